from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from devices.setting_seeds import settings_load
from integrations.services.registry import registry_load
from qiiub.seed_files import SeedError
from taxes.ivu import ivu_rules_load


class Command(BaseCommand):
    help = "Load the integration registry, the setting definitions and the IVU rules from seeds/ (idempotent; a bad file changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--seeds", default=str(Path(settings.BASE_DIR) / "seeds"))

    def handle(self, *args, **options):
        seeds = Path(options["seeds"])
        try:
            with transaction.atomic():  # both or neither
                report = registry_load(seeds_dir=seeds)
                settings_report = settings_load(path=seeds / "settings.json")
                ivu_rules = ivu_rules_load(path=seeds / "ivu.json")
        except SeedError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"registry: {report.created} created, {report.updated} updated")
        self.stdout.write(f"settings: {settings_report.created} created, {settings_report.updated} updated")
        self.stdout.write(f"IVU rules: {ivu_rules} rates and exemptions")
