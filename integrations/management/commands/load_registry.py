from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from devices.setting_seeds import settings_load
from integrations.services.registry import SeedError, registry_load


class Command(BaseCommand):
    help = "Load the integration registry and the setting definitions from seeds/ (idempotent; a bad file changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--seeds", default=str(Path(settings.BASE_DIR) / "seeds"))

    def handle(self, *args, **options):
        seeds = Path(options["seeds"])
        try:
            with transaction.atomic():  # both or neither
                report = registry_load(seeds_dir=seeds)
                settings_report = settings_load(path=seeds / "settings.json")
        except SeedError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"registry: {report.created} created, {report.updated} updated")
        self.stdout.write(f"settings: {settings_report.created} created, {settings_report.updated} updated")
