from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from qiiub.seed_texts import module_source, seed_texts


class Command(BaseCommand):
    help = ("Write qiiub/seed_strings.py: every seed text a person reads (descriptions, schema titles and "
            "descriptions, x-enumNames) marked with gettext_noop, so makemessages extracts them.")

    def add_arguments(self, parser):
        parser.add_argument("--seeds", default=str(Path(settings.BASE_DIR) / "seeds"))
        parser.add_argument("--output", default=str(Path(settings.BASE_DIR) / "qiiub" / "seed_strings.py"))

    def handle(self, *args, **options):
        groups = seed_texts(Path(options["seeds"]))
        Path(options["output"]).write_text(module_source(groups), encoding="utf-8")
        count = sum(len(texts) for _name, texts in groups)
        self.stdout.write(f"{options['output']}: {count} seed texts")
