"""Refunds through the processor that took the tender: once however often asked, recorded as the
sale's POS return (books and IVU see it), and nothing recorded when refused."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from events.models import OutboxEvent
from integrations.connectors.journal import daily_journal
from integrations.models import MerchantIntegration
from merchants.store.models import Sale
from payments import refunds
from payments.gateways.port import GatewayRefused
from payments.store.models import Refund, RefundStatus
from qiiub.errors import NotFound, ValidationFailed
from taxes.ivu import ivu_return
from tests.factories import QUICKBOOKS_ACCOUNTS, quickbooks_enabled
from tests.payments.factories import STRIPE_KEY, stripe_card_sale, stripe_connected

SAN_JUAN = ZoneInfo("America/Puerto_Rico")
PAN = "4111111111111111"


def _tender(merchant, sale_uuid: str):
    with schema_context(merchant.schema_name):
        sale = Sale.objects.get(client_uuid=sale_uuid)
        return sale, sale.tenders.get()


def _refund(merchant, sale, tender, amount, refund_id=None):
    return refunds.refund_request(merchant=merchant, sale_id=sale.pk, tender_id=tender.pk, amount=amount,
                                  refund_id=refund_id or uuid.uuid4(), by=None)


def _stripe_refunds(stripe_fake) -> int:
    accounts = stripe_fake.posted()["accounts"]
    return sum(account["refunds"] for account in accounts.values())


def _yesterday_noon():
    return datetime.combine(timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1),
                            datetime.min.time().replace(hour=12), tzinfo=SAN_JUAN)


def test_a_full_refund_goes_through_stripe_and_is_recorded_as_the_sales_return(personas, stripe_fake):
    merchant = personas.colmado
    stripe_connected(merchant)
    sale_uuid, intent = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon())
    sale, tender = _tender(merchant, sale_uuid)
    today = timezone.now().astimezone(SAN_JUAN)
    before = ivu_return(merchant=merchant, year=today.year, month=today.month)
    books = quickbooks_enabled(merchant)

    refund = _refund(merchant, sale, tender, "11.15")

    assert refund.status == RefundStatus.SUCCEEDED and refund.refund_ref.startswith("re_")
    with schema_context(merchant.schema_name):
        returned = Sale.objects.get(pk=refund.return_sale_id)
        assert (returned.total, returned.subtotal, returned.tax_state, returned.tax_municipal) == (
            Decimal("-11.15"), Decimal("-10.00"), Decimal("-0.90"), Decimal("-0.25"))
        card = returned.tenders.get()
        assert (card.amount, card.processor_ref, card.card_last4) == (Decimal("-11.15"), refund.refund_ref, "4242")
        assert sum(line.line_total for line in returned.lines.all()) == Decimal("-10.00")
    events = set(OutboxEvent.objects.filter(merchant=merchant).values_list("event_type", flat=True))
    assert {"refund.succeeded", "sale.completed"} <= events
    after = ivu_return(merchant=merchant, year=today.year, month=today.month)
    assert after.collected["state"] == before.collected["state"] - Decimal("0.90")
    assert after.taxable_sales == before.taxable_sales - Decimal("10.00")
    journal = daily_journal(integration=books, location=merchant.locations.get(code=sale.location_code),
                            day=today.date())
    card_account = QUICKBOOKS_ACCOUNTS[("PaymentMethod", "CREDIT")]
    assert ("Debit", card_account, Decimal("-11.15")) in {(line.posting, line.account, line.amount) for line in journal.lines}
    assert _stripe_refunds(stripe_fake) == 1


def test_a_double_click_or_a_retry_refunds_once(personas, stripe_fake):
    merchant = personas.colmado
    stripe_connected(merchant)
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon())
    sale, tender = _tender(merchant, sale_uuid)
    refund_id = uuid.uuid4()

    first = _refund(merchant, sale, tender, "5.00", refund_id)
    again = _refund(merchant, sale, tender, "5.00", refund_id)

    assert first.pk == again.pk and again.status == RefundStatus.SUCCEEDED
    assert _stripe_refunds(stripe_fake) == 1
    with schema_context(merchant.schema_name):
        assert Refund.objects.count() == 1 and Sale.objects.filter(total__lt=0).count() == 1


def test_a_partial_refund_splits_the_ivu_pro_rata_and_the_rest_can_follow(personas, stripe_fake):
    merchant = personas.colmado
    stripe_connected(merchant)
    sale_uuid, intent = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon(), amount="22.30",
                                         subtotal="20.00", state="2.10", municipal="0.20")
    sale, tender = _tender(merchant, sale_uuid)

    part = _refund(merchant, sale, tender, "11.15")
    rest = _refund(merchant, sale, tender, "11.15")

    with schema_context(merchant.schema_name):
        first = Sale.objects.get(pk=part.return_sale_id)
        assert (first.subtotal, first.tax_state, first.tax_municipal) == (
            Decimal("-10.00"), Decimal("-1.05"), Decimal("-0.10"))
    assert rest.status == RefundStatus.SUCCEEDED and _stripe_refunds(stripe_fake) == 2
    with pytest.raises(ValidationFailed) as nothing_left:
        _refund(merchant, sale, tender, "0.01")
    assert nothing_left.value.code == "refund_exceeds_left"


def test_more_than_is_left_at_the_processor_shows_its_refusal_and_records_nothing(personas, stripe_fake):
    merchant = personas.colmado
    stripe_connected(merchant)
    # 4.00 was refunded at Stripe itself (its dashboard): the hub does not know
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon(), refunded="4.00")
    sale, tender = _tender(merchant, sale_uuid)

    with pytest.raises(GatewayRefused) as refused:
        _refund(merchant, sale, tender, "11.15")

    assert "greater than" in refused.value.message
    with schema_context(merchant.schema_name):
        assert not Refund.objects.exists() and not Sale.objects.filter(total__lt=0).exists()
    assert not OutboxEvent.objects.filter(merchant=merchant, event_type="refund.succeeded").exists()


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.234", "NaN", "Infinity", "11.16"])
def test_a_bad_amount_is_refused_and_nothing_is_sent_or_stored(personas, stripe_fake, amount):
    merchant = personas.colmado
    stripe_connected(merchant)
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon())
    sale, tender = _tender(merchant, sale_uuid)

    with pytest.raises(ValidationFailed):
        _refund(merchant, sale, tender, amount)

    assert _stripe_refunds(stripe_fake) == 0
    with schema_context(merchant.schema_name):
        assert not Refund.objects.exists()


@pytest.mark.security
def test_another_merchants_sale_is_not_found(personas, stripe_fake):
    stripe_connected(personas.colmado)
    sale_uuid, _ = stripe_card_sale(stripe_fake, personas.colmado, at=_yesterday_noon())
    sale, tender = _tender(personas.colmado, sale_uuid)

    with pytest.raises(NotFound):
        _refund(personas.pharmacies[0], sale, tender, "1.00")

    assert _stripe_refunds(stripe_fake) == 0


@pytest.mark.security
def test_a_processor_answer_carrying_a_card_number_is_refused_and_nothing_of_it_is_stored_or_logged(
        personas, stripe_fake, caplog):
    merchant = personas.colmado
    stripe_connected(merchant)
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon())
    sale, tender = _tender(merchant, sale_uuid)
    stripe_fake.control(card_number_in_next_answer=PAN)

    with caplog.at_level(logging.DEBUG):
        refund = _refund(merchant, sale, tender, "11.15")

    # the answer could not be read: whether the refund was made is unknown, so it waits, unrecorded as a return
    assert refund.status == RefundStatus.PENDING and refund.last_error["code"] == "card_data_in_answer"
    with schema_context(merchant.schema_name):
        assert not Sale.objects.filter(total__lt=0).exists()
        stored = str(list(Refund.objects.values()))
    assert PAN not in stored and PAN not in caplog.text
    # the next ask, with the same key, reads a clean answer: one refund
    assert refunds.refund_resume(merchant=merchant, refund_id=refund.pk).status == RefundStatus.SUCCEEDED
    assert _stripe_refunds(stripe_fake) == 1


@pytest.mark.fault
def test_with_stripe_down_the_refund_waits_pending_and_goes_through_once_when_asked_again(personas, stripe_fake):
    merchant = personas.colmado
    stripe_connected(merchant)
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon())
    sale, tender = _tender(merchant, sale_uuid)
    stripe_fake.control(fail={"status": 503, "count": 3})

    pending = _refund(merchant, sale, tender, "11.15")

    assert pending.status == RefundStatus.PENDING and pending.last_error["code"] == "vendor_status"
    resumed = refunds.refund_resume(merchant=merchant, refund_id=pending.pk)
    assert resumed.status == RefundStatus.SUCCEEDED and _stripe_refunds(stripe_fake) == 1
    with pytest.raises(ValidationFailed):
        _refund(merchant, sale, tender, "0.01")  # nothing left: the pending refund counted all along


def test_a_tender_no_active_processor_took_cannot_be_refunded(personas, stripe_fake):
    merchant = personas.colmado
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon())
    sale, tender = _tender(merchant, sale_uuid)
    assert not MerchantIntegration.objects.filter(merchant=merchant, definition__code="payments.stripe").exists()

    with pytest.raises(ValidationFailed) as refused:
        _refund(merchant, sale, tender, "1.00")

    assert refused.value.code == "no_processor"


def test_the_stripe_key_is_never_in_what_the_refund_stores(personas, stripe_fake):
    merchant = personas.colmado
    stripe_connected(merchant)
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=_yesterday_noon())
    sale, tender = _tender(merchant, sale_uuid)
    refund = _refund(merchant, sale, tender, "2.00")
    with schema_context(merchant.schema_name):
        stored = str(list(Refund.objects.filter(pk=refund.pk).values()))
    assert STRIPE_KEY not in stored
