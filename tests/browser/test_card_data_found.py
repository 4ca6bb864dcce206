"""Card data discovery in Debian chromium: the merchant admin reads which events went out with a card
number and marks the receivers asked; the SystemAdmin reads the scan in the Django admin."""

import os
import tempfile
from pathlib import Path

import pytest
from django.utils import timezone

from compliance.models import CardScan
from compliance.scan import card_data_scan
from events.models import DeliveryStatus, EventDelivery, OutboxEvent, SubscriberKind
from tests.browser.conftest import sign_in
from webhooks.models import WebhookEndpoint

pytestmark = [pytest.mark.browser, pytest.mark.security]

SCREENSHOTS = Path(os.environ.get("QIIUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="qiiub-screenshots-"))


@pytest.fixture
def delivered_card_event(committed):
    """A sale event stored before the guard caught its card number, already delivered to a webhook."""
    merchant = committed.colmado
    endpoint = WebhookEndpoint.objects.create(merchant=merchant, url="https://contabilidad.example.com/hooks",
                                              description="Contabilidad", event_types=["sale.completed"],
                                              secret_vault_key="unused")
    event = OutboxEvent.objects.create(event_type="sale.completed", merchant=merchant,
                                       payload={"sale_id": "s-1", "note": "Visa 4111 1111 1111 1111"})
    EventDelivery.objects.create(event=event, merchant=merchant, subscriber_kind=SubscriberKind.WEBHOOK,
                                 subscriber_key=f"webhook:{endpoint.pk}", webhook_endpoint=endpoint,
                                 status=DeliveryStatus.SUCCEEDED, max_attempts=5, succeeded_at=timezone.now())
    scan = card_data_scan(requested_by="weekly schedule")
    yield merchant, scan
    CardScan.objects.all().delete()


def test_the_merchant_admin_reads_the_events_that_went_out_with_a_card_and_marks_them_done(
        portal_server, page, delivered_card_event):
    merchant, _ = delivered_card_event
    sign_in(page, portal_server, "colmado-admin")
    page.goto(f"{portal_server}/portal/m/{merchant.slug}/")
    panel = page.locator("#card-data-found")
    assert "•••• 1111" in panel.inner_text() and "https://contabilidad.example.com/hooks" in panel.inner_text()
    assert "411111" not in page.content()
    page.screenshot(path=SCREENSHOTS / "merchant-card-data-found.png", full_page=True)

    panel.locator("button").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#card-data-found").count() == 0
    assert page.js_errors == []


def test_the_system_admin_reads_the_scan_in_the_admin(portal_server, page, delivered_card_event):
    _, scan = delivered_card_event
    sign_in(page, portal_server, "sysadmin")
    page.goto(f"{portal_server}/admin/compliance/cardscan/{scan.pk}/change/")
    body = page.inner_text("body")
    assert "411111…1111" in body and "integrations_outboxevent" in body and "4111111111111111" not in body
    page.screenshot(path=SCREENSHOTS / "sysadmin-card-scan.png", full_page=True)
