"""The money pages in Debian chromium against a real portal server and the Stripe fake: the day's
trail with a difference and its cause, the cause's tenders, and a double-clicked refund made once."""

import os
import tempfile
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from merchants.store.models import Sale, Tender
from payments.settlement import reconcile
from payments.store.models import ReconciliationDay, ReconciliationItem, Refund, RefundStatus
from tests.browser.conftest import sign_in
from tests.factories import sell
from tests.payments.factories import STRIPE_KEY, stripe_card_sale, stripe_connected

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(os.environ.get("QIIUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="qiiub-screenshots-"))
SAN_JUAN = ZoneInfo("America/Puerto_Rico")


@pytest.fixture
def colmados_day(committed, stripe_fake):
    """Colmado Rivera's yesterday on Stripe: two card sales settled, one Stripe never saw; reconciled."""
    merchant = committed.colmado
    stripe_fake.control(reset=True)
    stripe = stripe_connected(merchant)
    day = timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1)
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=datetime.combine(day, time(10), tzinfo=SAN_JUAN),
                                    amount="22.30", subtotal="20.00", state="2.10", municipal="0.20")
    stripe_card_sale(stripe_fake, merchant, at=datetime.combine(day, time(12), tzinfo=SAN_JUAN))
    sell(merchant, at=datetime.combine(day, time(15), tzinfo=SAN_JUAN), tenders=[
        {"kind": "card", "amount": "11.15", "card_brand": "mastercard", "card_last4": "5100", "entry_method": "chip",
         "processor_ref": "pi_never_reached_stripe"}])
    reconcile(integration=stripe, days=[day])
    yield merchant, day, sale_uuid
    with schema_context(merchant.schema_name):
        for model in (ReconciliationItem, ReconciliationDay, Refund, Tender, Sale):
            model.objects.all().delete()


def test_a_merchant_admin_follows_a_difference_to_its_tender_and_refunds_a_sale_once(portal_server, page,
                                                                                   stripe_fake, colmados_day):
    merchant, day, refunded_sale = colmados_day
    sign_in(page, portal_server, "colmado-admin")

    page.click("nav >> text=Money")
    page.wait_for_selector("#money-trail")
    row = page.locator(f"#trail-{merchant.locations.first().code}")
    assert "$11.15" in row.inner_text() and "At the till only: 1" in row.inner_text()
    page.screenshot(path=SCREENSHOTS / "merchant-money-trail.png", full_page=True)

    row.locator("text=At the till only").click()
    page.wait_for_selector("#tender-rows")
    assert "pi_never_reached_stripe" in page.inner_text("#tender-rows")
    page.screenshot(path=SCREENSHOTS / "merchant-card-tenders.png", full_page=True)

    with schema_context(merchant.schema_name):
        sale_pk = Sale.objects.get(client_uuid=refunded_sale).pk
    page.goto(f"{portal_server}/portal/m/{merchant.slug}/money/sales/{sale_pk}/")
    page.fill("input[name=amount]", "11.15")
    page.dblclick("button:has-text('Refund to the card')")
    page.wait_for_selector("text=Refunded")
    page.screenshot(path=SCREENSHOTS / "merchant-refund.png", full_page=True)

    with schema_context(merchant.schema_name):
        assert list(Refund.objects.values_list("status", flat=True)) == [RefundStatus.SUCCEEDED]
    assert stripe_fake.posted()["accounts"][f"sk_test_****{STRIPE_KEY[-4:]}"]["refunds"] == 1
    assert "Up to $11.15" in page.inner_text("body")
    assert page.js_errors == []


def test_a_partner_admin_reads_a_stores_money_trail_and_sale_but_is_offered_no_refund(portal_server, page, committed,
                                                                                     stripe_fake):
    pharmacy = committed.pharmacies[2]
    stripe_fake.control(reset=True)
    stripe = stripe_connected(pharmacy)
    day = timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1)
    sale_uuid, _ = stripe_card_sale(stripe_fake, pharmacy, at=datetime.combine(day, time(10), tzinfo=SAN_JUAN))
    reconcile(integration=stripe, days=[day])
    try:
        sign_in(page, portal_server, "pharmatech-admin")
        page.goto(f"{portal_server}/portal/m/{pharmacy.slug}/money/?day={day.isoformat()}")
        assert "Complete" in page.inner_text("#processors")
        page.screenshot(path=SCREENSHOTS / "partner-money-trail.png", full_page=True)
        with schema_context(pharmacy.schema_name):
            sale_pk = Sale.objects.get(client_uuid=sale_uuid).pk
        page.goto(f"{portal_server}/portal/m/{pharmacy.slug}/money/sales/{sale_pk}/")
        assert "Only the store's admins can refund." in page.inner_text("body")
        assert page.locator("button:has-text('Refund to the card')").count() == 0
        assert page.js_errors == []
    finally:
        with schema_context(pharmacy.schema_name):
            for model in (ReconciliationItem, ReconciliationDay, Tender, Sale):
                model.objects.all().delete()
