from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from integrations.services.registry import SeedError, registry_load


class Command(BaseCommand):
    help = "Load the integration registry from seeds/ (idempotent; a bad file changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--seeds", default=str(Path(settings.BASE_DIR) / "seeds"))

    def handle(self, *args, **options):
        try:
            report = registry_load(seeds_dir=Path(options["seeds"]))
        except SeedError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"registry: {report.created} created, {report.updated} updated")
