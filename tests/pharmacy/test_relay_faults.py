"""The store relay as it runs at a pharmacy: the real program (`python -m qiiub_relay`) between a
real hub (the portal served by its own process, on the test database) and the Rx30-mode pharmacy
system fake, with registers calling the hub over HTTP. Killed with SIGKILL mid-stream, the hub
away for a minute, the pharmacy system down, two relays for one store, a pharmacy system that
answers garbage: after each, every prescription and every pickup arrives exactly once on the
other side, and no patient data is in any log."""

from __future__ import annotations

import base64
import time
import uuid
from threading import Thread
from types import SimpleNamespace

import pytest
import requests
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.models import EnrollmentPurpose
from devices.terminals import enrollment_code_create
from integrations.models import IntegrationDefinition, MerchantIntegration, Status
from integrations.services import configuring
from pharmacy.models import PharmacyStation, Relay
from pharmacy.store.models import MessageOutcome, OutboxMessage, Pickup, Prescription, ReceivedChange
from simulators.pharmacycom import make_server
from tests.pharmacy.conftest import PNG, TIMING, Register, RelayProcess, eventually

pytestmark = [pytest.mark.fault, pytest.mark.slow]

# Fake patients of these tests: none of these may ever be found in a log.
PATIENT_PREFIX = "QUIÑONES-TEST"


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
    eventually(lambda: len(_at_hub(store)) == 20, what="the first 20 fills reaching the hub")

    # killed while new fills come in
    pharmacy_system.control(add=_fills(20, 20))
    time.sleep(0.5)
    relay.kill()
    pharmacy_system.control(add=_fills(40, 20))
    relay.start()
    eventually(lambda: len(_at_hub(store)) == 60, what="all 60 fills reaching the hub")
    assert [len(register.ready_list()) for register in store.registers] == [60, 60]

    # and killed while it hands pickups to a slow pharmacy system
    pharmacy_system.control(delay_s=0.3)
    for batch in range(3):
        store.registers[batch % 2].upload(*(_pickup(f"{700000 + index}") for index in range(batch * 10,
                                                                                          batch * 10 + 10)))
    eventually(lambda: len(_invoices(pharmacy_system)) >= 3, what="the first pickups reaching the pharmacy")
    relay.kill()
    pharmacy_system.control(delay_s=0)
    relay.start()
    eventually(lambda: _delivered(store) == 30, seconds=60, what="all 30 pickups delivered")

    _assert_exactly_once(store, pharmacy_system, fills=60, pickups=30)
    assert len(store.registers[1].ready_list()) == 30
    _no_phi_in(relay.log(), hub.log_path.read_text(errors="replace"))


def test_nothing_is_lost_while_the_hub_is_away_for_a_minute(store, pharmacy_system, hub):
    relay = store.relay()
    pharmacy_system.control(add=_fills(0, 10))
    eventually(lambda: len(_at_hub(store)) == 10, what="the first fills reaching the hub")
    store.registers[0].upload(*(_pickup(f"{700000 + index}") for index in range(5)))

    hub.stop()
    try:
        pharmacy_system.control(add=_fills(10, 15))
        pharmacy_system.control(remove=[{"rx_number": "700009", "fill_number": 1}])
        time.sleep(60)
    finally:
        hub.start()

    eventually(lambda: len(_at_hub(store)) == 25 and _delivered(store) == 5, seconds=90,
                what="what queued during the outage arriving")
    _assert_exactly_once(store, pharmacy_system, fills=25, pickups=5)
    assert "700009" not in {item["rx_number"] for item in store.registers[0].ready_list()}  # withdrawn meanwhile
    _no_phi_in(relay.log())


def test_nothing_is_lost_while_the_pharmacy_system_is_down(store, pharmacy_system, hub):
    relay = store.relay()
    pharmacy_system.control(add=_fills(0, 10))
    eventually(lambda: len(_at_hub(store)) == 10, what="the fills reaching the hub")

    pharmacy_system.control(down=True)
    store.registers[0].upload(*(_pickup(f"{700000 + index}") for index in range(6)))
    unreachable = eventually(lambda: Relay.objects.filter(location=store.location, pharmacy_reachable=False)
                              .exclude(last_error_code="").first(), what="the relay reporting the outage")
    assert unreachable.queue_depth >= 0 and unreachable.last_error_code
    assert _invoices(pharmacy_system) == {}

    pharmacy_system.control(down=False)
    eventually(lambda: _delivered(store) == 6, seconds=40, what="the pickups delivered after the outage")
    _assert_exactly_once(store, pharmacy_system, fills=10, pickups=6)
    eventually(lambda: Relay.objects.get(pk=unreachable.pk).pharmacy_reachable, what="the relay reporting it back")
    _no_phi_in(relay.log())


def test_a_second_relay_stands_by_and_takes_over_when_the_first_dies(store, pharmacy_system, hub):
    first = store.relay("Back office PC")
    eventually(lambda: PharmacyStation.objects.filter(location=store.location, active_relay__isnull=False).exists(),
                what="the first relay taking the lease")
    second = store.relay("Register 3 PC")
    eventually(lambda: "Back office PC" in second.log(), what="the second relay naming the active one")
    pharmacy_system.control(add=_fills(0, 10))
    eventually(lambda: len(_at_hub(store)) == 10, what="the fills reaching the hub")
    store.registers[0].upload(*(_pickup(f"{700000 + index}") for index in range(3)))
    eventually(lambda: _delivered(store) == 3, what="the first pickups delivered")

    first.kill()
    pharmacy_system.control(remove=[{"rx_number": "700009", "fill_number": 1}])  # while no relay is active
    eventually(lambda: PharmacyStation.objects.get(location=store.location).active_relay.name == "Register 3 PC",
                seconds=90, what="the second relay taking over")
    # the fill that stopped waiting while no relay was active leaves the registers too
    eventually(lambda: "700009" not in {item["rx_number"] for item in store.registers[0].ready_list()},
               what="the new relay's complete list withdrawing what the old one never saw go")
    pharmacy_system.control(add=_fills(10, 5))
    store.registers[1].upload(*(_pickup(f"{700000 + index}") for index in range(3, 8)))
    eventually(lambda: len(_at_hub(store)) == 15 and _delivered(store) == 8, seconds=90,
                what="the second relay carrying everything on")
    _assert_exactly_once(store, pharmacy_system, fills=15, pickups=8)
    _no_phi_in(first.log(), second.log())


def test_garbage_from_the_pharmacy_system_is_logged_without_patient_data_and_the_relay_goes_on(
        store, pharmacy_system, hub):
    relay = store.relay()
    pharmacy_system.control(malformed={"count": 2, "kind": "broken"})
    pharmacy_system.control(add=_fills(0, 5))
    eventually(lambda: len(_at_hub(store)) == 5, what="the fills reaching the hub after the garbage")
    pharmacy_system.control(malformed={"count": 1, "kind": "oversized"})
    pharmacy_system.control(add=_fills(5, 5))
    eventually(lambda: len(_at_hub(store)) == 10, what="the fills reaching the hub after an oversized answer")
    assert "malformed_answer" in relay.log()
    _no_phi_in(relay.log())


def test_the_connection_test_fails_for_a_pharmacy_host_that_does_not_exist(store, pharmacy_system, hub, settings):
    for name, value in TIMING.items():  # the relay's config as the hub process serves it, version included
        setattr(settings, name, int(value))
    # given a running relay whose store's Rx30 settings name a host no name server knows
    integration = MerchantIntegration.objects.get(location=store.location, definition__code="pharmacy.rx30")
    store.relay()
    configuring.merchant_integration_configure(
        integration=integration, by=None,
        configuration={"mode": "service", "server_host": "rx30-server.invalid", "server_port": 5000, "use_tls": True})

    # when the merchant tests the connection once the relay has tried those settings
    def tested():
        failure = configuring.merchant_integration_test_connection(integration=integration, by=None)
        return failure if failure is not None and failure.reason == "relay_pharmacy_unreachable" else None

    failure = eventually(tested, what="the relay reporting the unknown host")

    # then the test fails, naming what the relay met, and nothing vouches for the connection
    assert failure.params["error"] == "host_unknown"
    integration.refresh_from_db()
    assert not integration.last_test_ok and integration.last_test_error["code"] == "relay_pharmacy_unreachable"
