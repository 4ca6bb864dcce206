"""The store relay as it runs at a pharmacy: the real program (`python -m qiiub_relay`) between a
real hub (the portal served by its own process, on the test database) and the Rx30-mode pharmacy
system fake, with registers calling the hub over HTTP. Killed with SIGKILL mid-stream, the hub
away for a minute, the pharmacy system down, two relays for one store, a pharmacy system that
answers garbage: after each, every prescription and every pickup arrives exactly once on the
other side, and no patient data is in any log."""

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
from threading import Thread
from types import SimpleNamespace

import pytest
import requests
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.models import EnrollmentPurpose
from devices.terminals import enrollment_code_create, terminal_enroll
from integrations.models import IntegrationDefinition, MerchantIntegration, Status
from pharmacy.models import PharmacyStation, Relay
from pharmacy.store.models import MessageOutcome, OutboxMessage, Pickup, Prescription, ReceivedChange
from simulators.pharmacycom import make_server
from tests.pharmacy.conftest import PNG

pytestmark = [pytest.mark.fault, pytest.mark.slow]

TIMING = {"PHARMACY_RELAY_HEARTBEAT_S": "1", "PHARMACY_RELAY_POLL_S": "1", "PHARMACY_RELAY_TAKEOVER_AFTER_S": "4"}
# Fake patients of these tests: none of these may ever be found in a log.
PATIENT_PREFIX = "QUIÑONES-TEST"


def _eventually(check, seconds: float = 30, what: str = "the condition"):
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
        _eventually(self._answers, what="the hub starting")

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
    server = Hub(process_env, tmp_path_factory.mktemp("hub") / "hub.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pharmacy_system():
    server = make_server(demo=False)
    Thread(target=server.serve_forever, daemon=True).start()
    fake = SimpleNamespace(server=server, url=f"http://127.0.0.1:{server.server_port}")
    fake.control = lambda **body: requests.post(f"{fake.url}/_control", json=body, timeout=5).raise_for_status()
    fake.state = lambda: requests.get(f"{fake.url}/_state", timeout=5).json()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(committed, hub, pharmacy_system, tmp_path):
    """Farmacia Caguas's store, its Rx30 integration pointing at the fake, two registers, and what
    the test leaves behind removed (the PHI access log stays: it cannot be deleted)."""
    location = committed.pharmacies[3].locations.get()
    MerchantIntegration.objects.create(
        merchant=location.merchant, definition=IntegrationDefinition.objects.get(code="pharmacy.rx30"),
        location=location, status=Status.ACTIVE,
        configuration={"mode": "service", "server_host": "127.0.0.1", "server_port": pharmacy_system.server.server_port,
                       "use_tls": False})
    relays: list[RelayProcess] = []

    def relay(name: str = "Back office PC") -> RelayProcess:
        process = RelayProcess(hub, tmp_path / f"relay-{len(relays)}", tmp_path / f"relay-{len(relays)}.log")
        _, code = enrollment_code_create(location=location, purpose=EnrollmentPurpose.RELAY)
        process.start(code, name)
        relays.append(process)
        return process

    yield SimpleNamespace(location=location, merchant=location.merchant, relay=relay, relays=relays,
                          registers=[Register(hub, location, "Register 1"), Register(hub, location, "Register 2")])
    for process in relays:
        process.stop()
    PharmacyStation.objects.filter(location=location).delete()
    Relay.objects.filter(location=location).delete()
    with schema_context(location.merchant.schema_name):
        for model in (Pickup, OutboxMessage, Prescription, ReceivedChange):
            model.objects.all().delete()


def _fills(start: int, count: int) -> list[dict]:
    return [{"rx_number": f"{700000 + index}", "fill_number": 1, "amount_due": "7.25", "taxable": False,
             "patient_name": f"{PATIENT_PREFIX} {index:03d}",
             "flags": [{"type": "hipaa", "required": True, "message": "Privacy notice"}]}
            for index in range(start, start + count)]


def _pickup(rx_number: str) -> dict:
    return {"type": "rx_pickup", "client_uuid": str(uuid.uuid4()), "rx_number": rx_number, "fill_number": 1,
            "picked_up_at": timezone.now().isoformat(),
            "picked_up_by": {"name": f"{PATIENT_PREFIX} pickup", "relation": "self"},
            "flag_results": [{"type": "hipaa", "accepted": True}],
            "signature": {"format": "image/png", "data": base64.b64encode(PNG).decode()}, "amount_paid": "7.25"}


def _at_hub(store) -> list[str]:
    """The Rx numbers the hub holds for the store (each fill has one row: a duplicate cannot exist)."""
    with schema_context(store.merchant.schema_name):
        return sorted(prescription.phi["rx_number"] for prescription in Prescription.objects.all())


def _delivered(store) -> int:
    with schema_context(store.merchant.schema_name):
        return OutboxMessage.objects.filter(outcome=MessageOutcome.DELIVERED).count()


def _invoices(pharmacy_system) -> dict:
    return pharmacy_system.state()["rx_invoices"]


def _assert_exactly_once(store, pharmacy_system, fills: int, pickups: int) -> None:
    assert len(_at_hub(store)) == fills
    invoices = _invoices(pharmacy_system)
    assert len(invoices) == pickups  # each pickup applied once (a resend is counted apart, as a repeat)
    assert sorted(item["rx_number"] for invoice in invoices.values() for item in invoice["items"]) == sorted(
        {item["rx_number"] for invoice in invoices.values() for item in invoice["items"]})
    with schema_context(store.merchant.schema_name):
        assert OutboxMessage.objects.filter(kind="pickup").count() == pickups
        assert not OutboxMessage.objects.exclude(outcome=MessageOutcome.DELIVERED).exists()


def _no_phi_in(*logs: str) -> None:
    for log in logs:
        assert PATIENT_PREFIX not in log and "700001" not in log


def test_a_relay_killed_mid_stream_loses_and_repeats_nothing(store, pharmacy_system, hub):
    relay = store.relay()
    pharmacy_system.control(add=_fills(0, 20))
    _eventually(lambda: len(_at_hub(store)) == 20, what="the first 20 fills reaching the hub")

    # killed while new fills come in
    pharmacy_system.control(add=_fills(20, 20))
    time.sleep(0.5)
    relay.kill()
    pharmacy_system.control(add=_fills(40, 20))
    relay.start()
    _eventually(lambda: len(_at_hub(store)) == 60, what="all 60 fills reaching the hub")
    assert [len(register.ready_list()) for register in store.registers] == [60, 60]

    # and killed while it hands pickups to a slow pharmacy system
    pharmacy_system.control(delay_s=0.3)
    for batch in range(3):
        store.registers[batch % 2].upload(*(_pickup(f"{700000 + index}") for index in range(batch * 10,
                                                                                          batch * 10 + 10)))
    _eventually(lambda: len(_invoices(pharmacy_system)) >= 3, what="the first pickups reaching the pharmacy")
    relay.kill()
    pharmacy_system.control(delay_s=0)
    relay.start()
    _eventually(lambda: _delivered(store) == 30, seconds=60, what="all 30 pickups delivered")

    _assert_exactly_once(store, pharmacy_system, fills=60, pickups=30)
    assert len(store.registers[1].ready_list()) == 30
    _no_phi_in(relay.log(), hub.log_path.read_text(errors="replace"))


def test_nothing_is_lost_while_the_hub_is_away_for_a_minute(store, pharmacy_system, hub):
    relay = store.relay()
    pharmacy_system.control(add=_fills(0, 10))
    _eventually(lambda: len(_at_hub(store)) == 10, what="the first fills reaching the hub")
    store.registers[0].upload(*(_pickup(f"{700000 + index}") for index in range(5)))

    hub.stop()
    try:
        pharmacy_system.control(add=_fills(10, 15))
        pharmacy_system.control(remove=[{"rx_number": "700009", "fill_number": 1}])
        time.sleep(60)
    finally:
        hub.start()

    _eventually(lambda: len(_at_hub(store)) == 25 and _delivered(store) == 5, seconds=90,
                what="what queued during the outage arriving")
    _assert_exactly_once(store, pharmacy_system, fills=25, pickups=5)
    assert "700009" not in {item["rx_number"] for item in store.registers[0].ready_list()}  # withdrawn meanwhile
    _no_phi_in(relay.log())


def test_nothing_is_lost_while_the_pharmacy_system_is_down(store, pharmacy_system, hub):
    relay = store.relay()
    pharmacy_system.control(add=_fills(0, 10))
    _eventually(lambda: len(_at_hub(store)) == 10, what="the fills reaching the hub")

    pharmacy_system.control(down=True)
    store.registers[0].upload(*(_pickup(f"{700000 + index}") for index in range(6)))
    unreachable = _eventually(lambda: Relay.objects.filter(location=store.location, pharmacy_reachable=False)
                              .exclude(last_error_code="").first(), what="the relay reporting the outage")
    assert unreachable.queue_depth >= 0 and unreachable.last_error_code
    assert _invoices(pharmacy_system) == {}

    pharmacy_system.control(down=False)
    _eventually(lambda: _delivered(store) == 6, seconds=40, what="the pickups delivered after the outage")
    _assert_exactly_once(store, pharmacy_system, fills=10, pickups=6)
    _eventually(lambda: Relay.objects.get(pk=unreachable.pk).pharmacy_reachable, what="the relay reporting it back")
    _no_phi_in(relay.log())


def test_a_second_relay_stands_by_and_takes_over_when_the_first_dies(store, pharmacy_system, hub):
    first = store.relay("Back office PC")
    _eventually(lambda: PharmacyStation.objects.filter(location=store.location, active_relay__isnull=False).exists(),
                what="the first relay taking the lease")
    second = store.relay("Register 3 PC")
    _eventually(lambda: "Back office PC" in second.log(), what="the second relay naming the active one")
    pharmacy_system.control(add=_fills(0, 10))
    _eventually(lambda: len(_at_hub(store)) == 10, what="the fills reaching the hub")
    store.registers[0].upload(*(_pickup(f"{700000 + index}") for index in range(3)))
    _eventually(lambda: _delivered(store) == 3, what="the first pickups delivered")

    first.kill()
    _eventually(lambda: PharmacyStation.objects.get(location=store.location).active_relay.name == "Register 3 PC",
                seconds=30, what="the second relay taking over")
    pharmacy_system.control(add=_fills(10, 5))
    store.registers[1].upload(*(_pickup(f"{700000 + index}") for index in range(3, 8)))
    _eventually(lambda: len(_at_hub(store)) == 15 and _delivered(store) == 8, seconds=40,
                what="the second relay carrying everything on")
    _assert_exactly_once(store, pharmacy_system, fills=15, pickups=8)
    _no_phi_in(first.log(), second.log())


def test_garbage_from_the_pharmacy_system_is_logged_without_patient_data_and_the_relay_goes_on(
        store, pharmacy_system, hub):
    relay = store.relay()
    pharmacy_system.control(malformed={"count": 2, "kind": "broken"})
    pharmacy_system.control(add=_fills(0, 5))
    _eventually(lambda: len(_at_hub(store)) == 5, what="the fills reaching the hub after the garbage")
    pharmacy_system.control(malformed={"count": 1, "kind": "oversized"})
    pharmacy_system.control(add=_fills(5, 5))
    _eventually(lambda: len(_at_hub(store)) == 10, what="the fills reaching the hub after an oversized answer")
    assert "malformed_answer" in relay.log()
    _no_phi_in(relay.log())
