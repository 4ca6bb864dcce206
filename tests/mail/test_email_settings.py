"""Which backend sends the hub's emails, chosen by the environment, and the deploy check that warns
when production would deliver none."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.production import production_keys

PRODUCTION = production_keys()
READ_BACKEND = "import django; django.setup(); from django.conf import settings as s; print(s.EMAIL_BACKEND)"


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith(("EMAIL_", "MANDRILL_", "QIIUB_ENV"))}
    return subprocess.run([sys.executable, "-c", code], env={**clean, "DJANGO_SETTINGS_MODULE": "qiiub.settings", **env},
                          cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60)


def test_development_prints_emails_to_the_console():
    assert _python(READ_BACKEND).stdout.strip() == "django.core.mail.backends.console.EmailBackend"


def test_the_mandrill_provider_selects_anymails_mandrill_backend_and_an_explicit_backend_wins():
    mandrill = _python(READ_BACKEND, EMAIL_PROVIDER="mandrill", MANDRILL_API_KEY="md-key")
    explicit = _python(READ_BACKEND, EMAIL_PROVIDER="mandrill", MANDRILL_API_KEY="md-key",
                       EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend")
    assert mandrill.stdout.strip() == "anymail.backends.mandrill.EmailBackend"
    assert explicit.stdout.strip() == "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(("env", "refusal"), [
    ({"EMAIL_PROVIDER": "mandrill"}, "EMAIL_PROVIDER=mandrill needs MANDRILL_API_KEY"),
    ({"EMAIL_PROVIDER": "sendgrid"}, "EMAIL_PROVIDER must be one of console, mandrill, not 'sendgrid'"),
])
def test_a_provider_without_its_key_or_an_unknown_one_is_refused_at_start(env, refusal):
    result = _python("import django; django.setup()", **env)
    assert result.returncode != 0 and refusal in result.stderr


def test_the_deploy_check_warns_when_production_would_deliver_no_email():
    check = "from django.core.management import execute_from_command_line as run; run(['manage.py', 'check', '--deploy'])"
    console = _python(check, **PRODUCTION)
    mandrill = _python(check, **PRODUCTION, EMAIL_PROVIDER="mandrill", MANDRILL_API_KEY="md-production-key")
    assert "qiiub.W043" in console.stderr and "in production no email is delivered" in console.stderr
    assert "qiiub.W043" not in mandrill.stderr + mandrill.stdout and "md-production-key" not in mandrill.stderr
