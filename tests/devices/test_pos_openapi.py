"""The served OpenAPI document, fuzzed by Schemathesis against a real server with all its checks:
no input makes the POS API fail, and every answer is the one the document gives (status, JSON body,
headers), for what the document allows and for what it does not."""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.throttling import ScopedRateThrottle

from devices.api_document import CLIENT_UUID_EXAMPLE
from devices.models import EnrollmentPurpose
from devices.terminals import enrollment_code_create, terminal_enroll
from devices.uploads import upload_ingest
from merchants.store.models import Customer, DeviceStatus, InventoryRecord, Sale, ShiftClose, StockLevel
from pharmacy.api import BARCODE_EXAMPLE
from pharmacy.audit import HUB
from pharmacy.models import PharmacyStation, Relay
from pharmacy.prescriptions import prescriptions_push
from pharmacy.relays import relay_enroll
from pharmacy.store.models import OutboxMessage, Pickup, Prescription, ReceivedChange
from tests.processes import serve_portal

pytestmark = [pytest.mark.security, pytest.mark.slow]

FUZZ_EXAMPLES = 100  # per operation and phase; a fixed seed keeps a failure reproducible
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def fuzzed_server(process_env):
    """A portal of its own for the run, whose enrollment rate limit lets every generated enrollment
    through: under the real one (20 a minute), all but the first few would only be answered 429."""
    yield from serve_portal(process_env, POS_ENROLL_RATE="100000/minute")
    cache.delete(ScopedRateThrottle.cache_format % {"scope": "pos-enroll", "ident": "127.0.0.1"})


@pytest.fixture
def fuzzed_terminal(committed):
    merchant = committed.retail[1]  # Ferretería Luna: no other test reads its sales
    _, code = enrollment_code_create(location=merchant.locations.get())
    terminal, token = terminal_enroll(code=code, name="Fuzzed register")
    # the record the document's example asks about, so the lookup answers a 200 too, not only 404s
    upload_ingest(terminal=terminal, body={"records": [
        {"type": "device_status", "client_uuid": CLIENT_UUID_EXAMPLE, "device": "scale", "state": "ok",
         "reported_at": "2026-11-25T14:03:00-04:00"}]})
    yield token
    with schema_context(merchant.schema_name):
        for model in (Sale, ShiftClose, Pickup, OutboxMessage, DeviceStatus, InventoryRecord, StockLevel, Customer):
            model.objects.all().delete()
    connection.set_schema_to_public()


@pytest.fixture
def fuzzed_ready_fill(committed):
    """The fill the document's barcode example names, ready at the fuzzed terminal's location, so
    the lookup answers a 200 too."""
    merchant = committed.retail[1]
    location = merchant.locations.get()
    rx_number, fill_number = BARCODE_EXAMPLE.split("-")
    prescriptions_push(location=location, actor=HUB, changes=[{
        "message_id": str(uuid.uuid4()), "rx_number": rx_number, "fill_number": int(fill_number), "status": "ready",
        "amount_due": "1.00", "taxable": False, "patient_name": "Fuzz Example"}])
    yield
    with schema_context(merchant.schema_name):
        Prescription.objects.all().delete()
        ReceivedChange.objects.all().delete()
    connection.set_schema_to_public()


@pytest.fixture
def fuzzed_relay(committed):
    """A store relay of another location (its pushes must not touch the terminal's ready fill), for
    the relay's operations (their own token)."""
    merchant = committed.retail[0]
    location = merchant.locations.get()
    _, code = enrollment_code_create(location=location, purpose=EnrollmentPurpose.RELAY)
    relay, token = relay_enroll(code=code, name="Fuzzed relay", public_key="A" * 43 + "=")
    yield token
    PharmacyStation.objects.filter(location=location).delete()
    Relay.objects.filter(location=location).delete()
    with schema_context(merchant.schema_name):
        for model in (Prescription, ReceivedChange, OutboxMessage):
            model.objects.all().delete()
    connection.set_schema_to_public()


def test_every_answer_of_the_pos_api_is_the_one_its_openapi_document_gives(fuzzed_server, fuzzed_terminal, fuzzed_relay,
                                                                         fuzzed_ready_fill, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(SCHEMATHESIS_CONFIG), "--no-color", "run",
         f"{fuzzed_server}/api/pos/v1/openapi.json", "-H", f"Authorization: Bearer {fuzzed_terminal}",
         "--checks", "all", "--continue-on-failure", "-n", str(FUZZ_EXAMPLES), "--seed", "20261125"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "QIIUB_FUZZ_RELAY_TOKEN": fuzzed_relay},
        cwd=tmp_path,  # Schemathesis keeps a cache of past failures in its working directory
    )
    assert run.returncode == 0, run.stdout[-6000:]
    assert re.search(r"Tested: 13\b", run.stdout), "all 13 operations, enrollments included: " + run.stdout[-2000:]
