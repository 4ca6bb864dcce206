"""The money pages: the day's trail from till to processor to books to IVU, its CSV, finding a card
tender, and refunding it from the sale's page (once, by the merchant's own admins only)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from merchants.store.models import Sale
from payments.settlement import reconcile
from payments.store.models import Refund
from tests.payments.factories import STRIPE_KEY, stripe_card_sale, stripe_connected

SAN_JUAN = ZoneInfo("America/Puerto_Rico")


def _yesterday():
    return timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1)


def _sale(merchant, sale_uuid):
    with schema_context(merchant.schema_name):
        sale = Sale.objects.get(client_uuid=sale_uuid)
        return sale, sale.tenders.get()


@pytest.fixture
def reconciled_day(personas, stripe_fake):
    """Colmado's yesterday: one card sale Stripe settled, one it never saw, reconciled."""
    merchant = personas.colmado
    stripe = stripe_connected(merchant)
    day = _yesterday()
    matched, _ = stripe_card_sale(stripe_fake, merchant, at=datetime.combine(day, time(10), tzinfo=SAN_JUAN))
    from tests.factories import sell
    sell(merchant, at=datetime.combine(day, time(11), tzinfo=SAN_JUAN), tenders=[
        {"kind": "card", "amount": "11.15", "card_brand": "visa", "card_last4": "0005", "entry_method": "chip",
         "processor_ref": "pi_never_settled"}])
    reconcile(integration=stripe, days=[day])
    return merchant, day, matched


def test_the_money_trail_shows_the_till_the_processor_and_the_difference_with_its_cause(client, personas,
                                                                                      reconciled_day):
    merchant, day, _ = reconciled_day
    client.force_login(personas.retail_admin)

    page = client.get(reverse("portal:money-trail", args=[merchant.slug]), {"day": day.isoformat()})

    assert page.status_code == 200
    text = page.content.decode()
    row = text[text.index(f'id="trail-{merchant.locations.first().code}"'):]
    row = row[:row.index("</tr>")]
    assert "2 sales" in row and "$22.30" in row and "$11.15" in row
    assert "At the till only: 1" in row and 'class="bad"' in row
    assert "Complete" in text and "Reconcile this day now" in text


def test_the_csv_has_one_row_per_store_with_the_same_figures(client, personas, reconciled_day):
    merchant, day, _ = reconciled_day
    client.force_login(personas.retail_admin)

    answer = client.get(reverse("portal:money-trail-csv", args=[merchant.slug]), {"day": day.isoformat()})

    lines = answer.content.decode().strip().splitlines()
    assert answer["Content-Type"].startswith("text/csv") and lines[0].startswith("day,location,")
    store = next(line for line in lines[1:] if f",{merchant.locations.first().code}," in line)
    assert ",22.30," in store and "At the till only: 1 (11.15)" in store


def test_a_card_tender_is_found_by_last_4_and_its_sale_offers_the_refund(client, personas, reconciled_day):
    merchant, day, _ = reconciled_day
    client.force_login(personas.retail_admin)

    found = client.get(reverse("portal:card-tenders", args=[merchant.slug]), {"day": day.isoformat(), "last4": "0005"})

    text = found.content.decode()
    assert "pi_never_settled" in text and "pi_" in text and text.count("Open the sale") == 1
    sale_url = re.search(r'href="([^"]+/money/sales/\d+/)"', text).group(1)
    sale_page = client.get(sale_url).content.decode()
    assert "Refund to the card" in sale_page and 'name="refund_id"' in sale_page


def test_a_refund_posted_twice_is_made_once(client, personas, stripe_fake, reconciled_day):
    merchant, _, sale_uuid = reconciled_day
    sale, tender = _sale(merchant, sale_uuid)
    client.force_login(personas.retail_admin)
    url = reverse("portal:refund", args=[merchant.slug, sale.pk, tender.pk])
    form = {"amount": "5.00", "refund_id": str(uuid.uuid4())}

    first, second = client.post(url, form), client.post(url, form)

    assert first.status_code == second.status_code == 302
    with schema_context(merchant.schema_name):
        assert Refund.objects.count() == 1
    assert stripe_fake.posted()["accounts"][f"sk_test_****{STRIPE_KEY[-4:]}"]["refunds"] == 1
    page = client.get(first["Location"]).content.decode()
    assert "Refunded" in page and "Up to $6.15" in page


@pytest.mark.parametrize("amount", ["0", "abc", "99.00", ""])
def test_a_bad_refund_amount_is_shown_on_the_sale_and_nothing_is_stored(client, personas, stripe_fake,
                                                                        reconciled_day, amount):
    merchant, _, sale_uuid = reconciled_day
    sale, tender = _sale(merchant, sale_uuid)
    client.force_login(personas.retail_admin)

    answer = client.post(reverse("portal:refund", args=[merchant.slug, sale.pk, tender.pk]),
                         {"amount": amount, "refund_id": str(uuid.uuid4())})

    assert answer.status_code == 422 and 'id="refund-error"' in answer.content.decode()
    with schema_context(merchant.schema_name):
        assert not Refund.objects.exists()


@pytest.mark.security
def test_a_refund_of_another_merchants_sale_is_not_found(client, personas, stripe_fake, reconciled_day):
    merchant, _, sale_uuid = reconciled_day
    sale, tender = _sale(merchant, sale_uuid)
    other = personas.pharmacies[0]
    client.force_login(personas.merchant_admin)

    through_own = client.post(reverse("portal:refund", args=[other.slug, sale.pk, tender.pk]),
                              {"amount": "1.00", "refund_id": str(uuid.uuid4())})
    through_theirs = client.post(reverse("portal:refund", args=[merchant.slug, sale.pk, tender.pk]),
                                 {"amount": "1.00", "refund_id": str(uuid.uuid4())})

    assert through_own.status_code == through_theirs.status_code == 404
    with schema_context(merchant.schema_name):
        assert not Refund.objects.exists()


@pytest.mark.security
def test_a_partner_admin_sees_the_money_but_cannot_refund(client, personas, stripe_fake):
    pharmacy = personas.pharmacies[0]
    stripe_connected(pharmacy)
    sale_uuid, _ = stripe_card_sale(stripe_fake, pharmacy, at=datetime.combine(_yesterday(), time(9), tzinfo=SAN_JUAN))
    sale, tender = _sale(pharmacy, sale_uuid)
    client.force_login(personas.partner_admin)

    page = client.get(reverse("portal:sale", args=[pharmacy.slug, sale.pk])).content.decode()
    refused = client.post(reverse("portal:refund", args=[pharmacy.slug, sale.pk, tender.pk]),
                          {"amount": "1.00", "refund_id": str(uuid.uuid4())})

    assert "Only the store's admins can refund." in page and "Refund to the card" not in page
    assert refused.status_code == 404
    with schema_context(pharmacy.schema_name):
        assert not Refund.objects.exists()


def test_a_day_above_the_threshold_is_an_issue_that_opens_the_money_trail(client, personas, reconciled_day):
    merchant, day, _ = reconciled_day
    client.force_login(personas.retail_admin)

    inbox = client.get(reverse("portal:issues", args=[merchant.slug])).content.decode()

    assert f"Card settlement differs from the tills by 11.15 on {day.isoformat()}" in inbox
    assert f'{reverse("portal:money-trail", args=[merchant.slug])}?day={day.isoformat()}' in inbox


def test_the_partners_daily_digest_lists_a_store_whose_settlement_differs(personas, stripe_fake, mailoutbox):
    from integrations.services.alerts import partner_digests_send
    from tests.factories import sell

    pharmacy = personas.pharmacies[0]
    stripe = stripe_connected(pharmacy, configuration={"alert_threshold": 5})
    day = _yesterday()
    sell(pharmacy, at=datetime.combine(day, time(11), tzinfo=SAN_JUAN), lines=(("standard", "48.85"),), tenders=[
        {"kind": "card", "amount": "50.00", "card_brand": "visa", "card_last4": "0005", "entry_method": "chip",
         "processor_ref": "pi_lost"}])
    reconcile(integration=stripe, days=[day])

    assert partner_digests_send() == 1
    digest = mailoutbox[0].body
    assert "Stripe" in digest and pharmacy.name in digest and "Card settlement differs" in digest


def test_reconcile_now_runs_a_finished_day_and_refuses_one_not_over(client, personas, stripe_fake, eager_bus):
    merchant = personas.colmado
    stripe = stripe_connected(merchant)
    day = _yesterday()
    stripe_card_sale(stripe_fake, merchant, at=datetime.combine(day, time(10), tzinfo=SAN_JUAN))
    client.force_login(personas.retail_admin)
    url = reverse("portal:money-reconcile", args=[merchant.slug])

    done = client.post(f"{url}?day={day.isoformat()}", follow=True).content.decode()
    today = client.post(f"{url}?day={(day + timedelta(days=1)).isoformat()}", follow=True).content.decode()

    assert "Reconciling" in done and "At the till only" not in done and "Complete" in done
    assert "A day is reconciled once it is over" in today and 'id="reconcile-now"' not in today
    from payments.store.models import ReconciliationDay
    with schema_context(merchant.schema_name):
        assert ReconciliationDay.objects.filter(merchant_integration_id=stripe.pk).count() == 1


def test_books_kept_as_an_iif_file_are_named_as_a_download_not_as_a_journal_not_posted(client, personas,
                                                                                     reconciled_day):
    from tests.factories import QUICKBOOKS_ACCOUNTS, accounting_enabled

    merchant, day, _ = reconciled_day
    accounting_enabled(merchant, "accounting.quickbooks_desktop", QUICKBOOKS_ACCOUNTS)
    client.force_login(personas.retail_admin)

    page = client.get(reverse("portal:money-trail", args=[merchant.slug]), {"day": day.isoformat()}).content.decode()

    assert "A file downloaded from its page" in page and "Not posted yet" not in page
