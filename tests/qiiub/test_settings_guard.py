import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.production import production_keys

pytestmark = pytest.mark.security


def _start(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "qiiub.settings", **env},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_with_development_keys():
    result = _start({"QIIUB_ENV": "production"})
    assert result.returncode != 0
    assert "Refusing to start in production with development settings" in result.stderr
    for name in ("SECRET_KEY", "FERNET_KEYS", "VAULT_LOCAL_KEYS", "PHI_KEYS", "PHI_INDEX_KEY"):
        assert name in result.stderr


def test_production_starts_with_its_own_keys():
    result = _start(production_keys())
    assert result.returncode == 0, result.stderr
