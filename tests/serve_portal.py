"""The portal for the browser tests: Django's server with the sandbox ledgers' connectors imported,
as the test worker imports them (`-I`), so their integrations' pages render."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qiiub.settings")

import django  # noqa: E402

django.setup()

from django.core.management import execute_from_command_line  # noqa: E402

import tests.sandbox_vendors  # noqa: E402,F401

execute_from_command_line(["manage.py", "runserver", sys.argv[1], "--noreload", "--nothreading"])
