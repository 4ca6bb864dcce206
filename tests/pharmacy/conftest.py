"""What the pharmacy tests share: a store's relay enrolled with a real key pair, its registers,
and records in the shapes registers and relays send."""

from __future__ import annotations

import base64
import uuid
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from devices.models import EnrollmentPurpose
from devices.terminals import enrollment_code_create
from qiiub_relay.sealing import generate_private_key, public_key_b64
from tests.devices.conftest import enrolled

# A 1×1 PNG: what a signature pad sends, in miniature.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PATIENTS = ("Zoraida Quiñones Vélez", "Wilfredo Santiago Ortiz", "Yesenia Colón Arroyo")


def relay_enrolled(location, name="Back office PC") -> SimpleNamespace:
    from pharmacy.relays import relay_enroll

    _, code = enrollment_code_create(location=location, purpose=EnrollmentPurpose.RELAY)
    private_key = generate_private_key()
    relay, token = relay_enroll(code=code, name=name, public_key=public_key_b64(private_key))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return SimpleNamespace(relay=relay, token=token, client=client, private_key=private_key, location=location)


def heartbeat(relay, **report) -> object:
    return relay.client.post("/api/pos/v1/relay/heartbeat",
                             {"queue_depth": 0, "pharmacy_reachable": True, **report}, format="json")


def ready(rx_number: str, fill_number: int = 0, patient: str = PATIENTS[0], **changes) -> dict:
    return {"message_id": str(uuid.uuid4()), "rx_number": rx_number, "fill_number": fill_number, "status": "ready",
            "amount_due": "12.50", "taxable": False, "patient_name": patient,
            "flags": [{"type": "hipaa", "required": True, "message": "Acknowledge the privacy notice"}],
            "ready_at": timezone.now().isoformat(), **changes}


def pickup_record(rx_number: str, fill_number: int = 0, **changes) -> dict:
    return {"type": "rx_pickup", "client_uuid": str(uuid.uuid4()), "rx_number": rx_number,
            "fill_number": fill_number, "picked_up_at": timezone.now().isoformat(),
            "picked_up_by": {"name": "Luis Quiñones", "relation": "spouse", "id_type": "drivers_license",
                             "id_last4": "4821"},
            "flag_results": [{"type": "hipaa", "accepted": True}],
            "signature": {"format": "image/png", "data": base64.b64encode(PNG).decode()},
            "amount_paid": "12.50", **changes}


@pytest.fixture
def store(personas):
    """Farmacia Ponce's one store with its relay (holding the lease) and two registers."""
    location = personas.pharmacies[1].locations.get()
    relay = relay_enrolled(location)
    assert heartbeat(relay).status_code == 200
    return SimpleNamespace(location=location, merchant=location.merchant, relay=relay,
                           registers=[enrolled(location, "Register 1"), enrolled(location, "Register 2")])
