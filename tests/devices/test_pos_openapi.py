"""The served OpenAPI document, fuzzed by Schemathesis against a real server: no input makes it fail."""

import subprocess
import sys

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from devices.terminals import enrollment_code_create, terminal_enroll
from merchants.store.models import DeviceStatus, RxPickup, Sale, ShiftClose

pytestmark = [pytest.mark.security, pytest.mark.slow]

FUZZ_EXAMPLES = 40  # per operation; a fixed seed keeps a failure reproducible


@pytest.fixture
def fuzzed_terminal(committed):
    merchant = committed.retail[1]  # Ferretería Luna: no other test reads its sales
    _, code = enrollment_code_create(location=merchant.locations.get())
    _, token = terminal_enroll(code=code, name="Fuzzed register")
    yield token
    with schema_context(merchant.schema_name):
        for model in (Sale, ShiftClose, RxPickup, DeviceStatus):
            model.objects.all().delete()
    connection.set_schema_to_public()


def test_no_request_the_openapi_document_allows_makes_the_pos_api_fail(portal_server, fuzzed_terminal, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{portal_server}/api/pos/v1/openapi.json",
         "-H", f"Authorization: Bearer {fuzzed_terminal}", "--checks", "not_a_server_error",
         "-n", str(FUZZ_EXAMPLES), "--seed", "20261125", "--no-color"],
        capture_output=True, text=True, timeout=600,
        cwd=tmp_path,  # Schemathesis keeps a cache of past failures in its working directory
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert "passed" in run.stdout
