"""A pharmacy's day in Debian chromium, against a real portal process: the merchant admin enrolls
the store's relay, the real relay brings the Rx30-mode system's ready fills, a register hands one
over with a signature, and the admin reads the signature log and the access log; the partner
admin sees the store's relay health and no patient."""

import base64
import os
import re
import tempfile
import uuid
from pathlib import Path
from threading import Thread

import pytest
import requests
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.terminals import enrollment_code_create, terminal_enroll
from integrations.models import IntegrationDefinition, MerchantIntegration, Status
from pharmacy.models import PharmacyStation, Relay
from pharmacy.store.models import OutboxMessage, Pickup, Prescription, ReceivedChange
from simulators.pharmacycom import make_server
from tests.browser.conftest import sign_in
from tests.pharmacy.conftest import PNG, RelayProcess, eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(os.environ.get("QIIUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="qiiub-screenshots-"))


@pytest.fixture
def rx30(committed):
    """The Río Piedras store's Rx30 (the demo's three ready fills), and what the test leaves removed."""
    server = make_server(demo=True)
    Thread(target=server.serve_forever, daemon=True).start()
    location = committed.san_juan.locations.get(code="SJ02")
    MerchantIntegration.objects.create(
        merchant=location.merchant, definition=IntegrationDefinition.objects.get(code="pharmacy.rx30"),
        location=location, status=Status.ACTIVE,
        configuration={"mode": "service", "server_host": "127.0.0.1", "server_port": server.server_port,
                       "use_tls": False})
    yield location
    server.shutdown()
    server.server_close()
    PharmacyStation.objects.filter(location=location).delete()
    Relay.objects.filter(location=location).delete()
    with schema_context(location.merchant.schema_name):
        for model in (Pickup, OutboxMessage, Prescription):
            model.objects.filter(location_code=location.code).delete()
        ReceivedChange.objects.all().delete()


def test_a_pharmacy_enrolls_its_relay_sees_its_fills_and_reads_the_signature_log(rx30, portal_server, page, browser,
                                                                                 tmp_path):
    # given the San Juan admin on the Río Piedras store's pharmacy page
    sign_in(page, portal_server, "sanjuan-admin")
    page.click("nav >> text=Pharmacy")
    page.wait_for_url("**/pharmacy/")
    page.click("a:has-text('Río Piedras')")
    page.wait_for_url(f"**/pharmacy/{rx30.pk}/")
    assert "No relay" in page.inner_text("#relay-health")

    # when they create a relay code: it is shown once, with the command to run at the store
    page.fill("#relay-name", "Back office PC")
    page.click("button:has-text('Create relay code')")
    page.wait_for_selector("#enrollment-code")
    page.screenshot(path=SCREENSHOTS / "merchant-pharmacy-relay-code.png", full_page=True)
    code = page.inner_text("#enrollment-code code.enrollment").strip()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", code)
    assert f"--enroll {code}" in page.inner_text("#relay-command")

    # and the store runs it: the relay reports, and the Rx30 fills arrive
    relay = RelayProcess(SimpleHub(portal_server), tmp_path / "relay", tmp_path / "relay.log")
    relay.start(code, "Back office PC")
    try:
        def arrived() -> bool:
            page.reload()
            return "Running" in page.inner_text("#relay-health") and "3 prescriptions waiting" in page.content()

        eventually(arrived, seconds=40, what="the relay reporting and the fills arriving")
        waiting = page.inner_text("#ready-list")
        assert "RIVERA, ANA" in waiting and "600301-1" in waiting
        page.screenshot(path=SCREENSHOTS / "merchant-pharmacy-location.png", full_page=True)

        # a register hands one over, with a signature
        _, terminal_code = enrollment_code_create(location=rx30)
        _, token = terminal_enroll(code=terminal_code, name="Register 1")
        pickup = {"type": "rx_pickup", "client_uuid": str(uuid.uuid4()), "rx_number": "600123", "fill_number": 1,
                  "picked_up_at": timezone.now().isoformat(),
                  "picked_up_by": {"name": "Luis Rivera", "relation": "spouse", "id_type": "drivers_license",
                                   "id_last4": "4821"},
                  "flag_results": [{"type": "hipaa", "accepted": True}],
                  "signature": {"format": "image/png", "data": base64.b64encode(PNG).decode()},
                  "amount_paid": "12.50"}
        answer = requests.post(f"{portal_server}/api/pos/v1/uploads", json={"records": [pickup]},
                               headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.json()["stored"] == 1

        # then the signature log of the day shows it, with the signature image
        page.click("text=Pickup and signature log")
        page.wait_for_url("**/pickups/**")
        page.wait_for_selector("text=Luis Rivera")
        log = page.inner_text("main")
        assert "600123-1" in log and "Register 1" in log
        # loaded (a busy machine is slower); not wait_for_function, whose string the CSP refuses to eval
        eventually(lambda: page.eval_on_selector("main img", "image => image.complete"), what="the signature image")
        assert page.eval_on_selector("main img", "image => image.naturalWidth") == 1
        page.screenshot(path=SCREENSHOTS / "merchant-pharmacy-signature-log.png", full_page=True)

        # and the access log lists who read what, the register's pickup and the admin's reads included
        page.go_back()
        page.click("text=Patient data access log")
        page.wait_for_url("**/pharmacy/access-log/**")
        page.wait_for_selector("table.grid")
        access = page.inner_text("table.grid")
        assert "Register 1" in access and "sanjuan-admin" in access and "Back office PC" in access
        page.screenshot(path=SCREENSHOTS / "merchant-pharmacy-access-log.png", full_page=True)
        assert page.js_errors == []

        # the partner admin sees the store's relay health, and no patient
        partner = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(partner, portal_server, "pharmatech-admin")
        partner.click("text=Pharmacy relays")
        partner.wait_for_url("**/pharmacy/")
        partner.wait_for_selector("text=Back office PC")
        health = partner.content()
        assert "Río Piedras" in health and "RIVERA" not in health and "Luis Rivera" not in health
        partner.screenshot(path=SCREENSHOTS / "partner-pharmacy-relays.png", full_page=True)
        partner.context.close()
    finally:
        relay.stop()


class SimpleHub:
    """What RelayProcess needs of a hub: its address (the session's portal server)."""

    def __init__(self, url: str):
        self.url = url
