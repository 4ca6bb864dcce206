"""What the pharmacy tests share: a store's relay enrolled with a real key pair, its registers,
and records in the shapes registers and relays send."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from devices.models import EnrollmentPurpose
from devices.terminals import enrollment_code_create, terminal_enroll
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


# The relay's timing in the hub the process tests start: seconds, not the production minutes.
TIMING = {"PHARMACY_RELAY_HEARTBEAT_S": "1", "PHARMACY_RELAY_POLL_S": "1", "PHARMACY_RELAY_TAKEOVER_AFTER_S": "4"}


def eventually(check, seconds: float = 30, what: str = "the condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {seconds:.0f} s")


class Hub:
    """The portal in a process of its own on a fixed port, so it can be stopped and started again."""

    def __init__(self, process_env: dict, log_path: Path):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**process_env, **TIMING}
        self.log_path = log_path
        self.process = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "tests/serve_portal.py", f"127.0.0.1:{self.port}"], env=self.env,
                cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT)
        eventually(self._answers, what="the hub starting")

    def _answers(self) -> bool:
        try:
            return requests.get(f"{self.url}/accounts/login/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class RelayProcess:
    def __init__(self, hub: Hub, state_dir: Path, log_path: Path):
        self.hub, self.state_dir, self.log_path = hub, state_dir, log_path
        self.process = None

    def start(self, code: str | None = None, name: str = "Back office PC") -> None:
        command = [sys.executable, "-m", "qiiub_relay", "--hub", self.hub.url, "--state-dir", str(self.state_dir),
                   "--log-level", "DEBUG"]
        if code:
            command += ["--enroll", code, "--name", name]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Register:
    def __init__(self, hub: Hub, location, name: str):
        _, code = enrollment_code_create(location=location)
        _, token = terminal_enroll(code=code, name=name)
        self.hub, self.headers = hub, {"Authorization": f"Bearer {token}"}

    def upload(self, *records) -> dict:
        answer = requests.post(f"{self.hub.url}/api/pos/v1/uploads", json={"records": list(records)},
                               headers=self.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def ready_list(self) -> list[dict]:
        answer = requests.get(f"{self.hub.url}/api/pos/v1/prescriptions", headers=self.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["prescriptions"]


@pytest.fixture(scope="module")
def hub(process_env, tmp_path_factory):
    """The hub in a process of its own, for the tests that run real relays against it."""
    server = Hub(process_env, tmp_path_factory.mktemp("hub") / "hub.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def store(personas):
    """Farmacia Ponce's one store with its relay (holding the lease) and two registers."""
    location = personas.pharmacies[1].locations.get()
    relay = relay_enrolled(location)
    assert heartbeat(relay).status_code == 200
    return SimpleNamespace(location=location, merchant=location.merchant, relay=relay,
                           registers=[enrolled(location, "Register 1"), enrolled(location, "Register 2")])
