"""The gateway port's contract, held by every processor adapter over real HTTP against its fake:
the lifecycle (authorize, capture, void, refund, status), a refund asked twice made once, a refusal
in the processor's words, rate limits waited out, an outage and a timeout as typed errors, a card
number in an answer refused whole, and the settled transactions of a business date."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from payments.gateways.athmovil import AthMovil
from payments.gateways.dynamics import DynamicsPayments
from payments.gateways.port import (
    CardDataInAnswer,
    GatewayRefused,
    Payment,
    PaymentGateway,
    PaymentStatus,
    SettledKind,
)
from payments.gateways.stripe import Stripe
from qiiub.http import VendorUnavailable

SAN_JUAN = ZoneInfo("America/Puerto_Rico")
PAN = "4111111111111111"
STRIPE_KEY = "sk_test_conformance02"
ATH_TOKENS = {"public_token": "pk-conformance-01", "private_token": "sk-conformance-01"}
DYNAMICS_SITE = {"site_id": "QIIUB-DEMO", "session_id": "demo-session", "secret": "demo-secret",
                 "merchant_key": "MK-DEMO"}


@dataclass
class Case:
    gateway: PaymentGateway
    fake: object
    payment_method: str
    refunds_made: Callable[[], int]
    settle: Callable[[], None]  # what makes a captured payment refundable (Dynamics: the batch closes)
    plant: Callable[[datetime, list[tuple[str, Decimal]]], list[str]]  # sales settled at a time → their refs

    def captured(self, amount: str, key: str) -> Payment:
        held = self.gateway.authorize(amount=Decimal(amount), payment_method=self.payment_method, reference=key,
                                      idempotency_key=f"auth-{key}")
        payment = self.gateway.capture(processor_ref=held.processor_ref, amount=None, idempotency_key=f"cap-{key}",
                                       capture_token=held.capture_token)
        self.settle()
        return payment


def _stripe(stripe_fake, _athmovil_fake, _dynamics_fake) -> Case:
    def plant(at, sales):
        refs = [f"pi_planted{at:%d%H%M}{index}" for index, _ in enumerate(sales)]
        stripe_fake.control(charges={STRIPE_KEY: [
            {"payment_intent": ref, "amount": int(amount * 100), "created": int(at.timestamp())}
            for ref, (_, amount) in zip(refs, sales, strict=True)]})
        return refs

    return Case(Stripe(configuration={}, credentials={"secret_key": STRIPE_KEY}), stripe_fake, "pm_card_visa",
                lambda: sum(account["refunds"] for account in stripe_fake.posted()["accounts"].values()),
                lambda: None, plant)


def _athmovil(_stripe_fake, athmovil_fake, _dynamics_fake) -> Case:
    def plant(at, sales):
        refs = [f"402-9{at:%d%H}{index:03d}" for index, _ in enumerate(sales)]
        athmovil_fake.control(transactions={ATH_TOKENS["public_token"]: [
            {"transactionType": "PAYMENT", "date": at.astimezone(SAN_JUAN).strftime("%Y-%m-%d %H:%M:%S"),
             "total": str(amount), "referenceNumber": ref} for ref, (_, amount) in zip(refs, sales, strict=True)]})
        return refs

    return Case(AthMovil(configuration={}, credentials=ATH_TOKENS), athmovil_fake, "7875550100",
                lambda: len(athmovil_fake.posted()["refunds"]), lambda: None, plant)


def _dynamics(_stripe_fake, _athmovil_fake, dynamics_fake) -> Case:
    def settle():
        dynamics_fake.control(close_batch={"merchant_key": DYNAMICS_SITE["merchant_key"],
                                           "at": datetime.now(SAN_JUAN).strftime("%Y-%m-%dT%H:%M:%S")})

    def refunds_made():
        merchants = dynamics_fake.posted()["merchants"].values()
        return sum(count for merchant in merchants for status, count in merchant["transactions_by_status"].items()
                   if status.startswith("Reembolso"))

    def plant(at, sales):
        refs = [f"77{at:%d%H%M}{index:03d}" for index, _ in enumerate(sales)]
        local = at.astimezone(SAN_JUAN).strftime("%Y-%m-%dT%H:%M:%S")
        dynamics_fake.control(settled_batches={DYNAMICS_SITE["merchant_key"]: [{"close_date": local, "items": [
            {"IDTransaction": ref, "Type": "Venta", "Amount": str(amount), "AuthNumber": "123456", "last4": "1617",
             "brand": "visa", "TransactionDate": local} for ref, (_, amount) in zip(refs, sales, strict=True)]}]})
        return refs

    return Case(DynamicsPayments(configuration={}, credentials=DYNAMICS_SITE), dynamics_fake, "tok_visa_1617",
                refunds_made, settle, plant)


@pytest.fixture(params=[_stripe, _athmovil, _dynamics], ids=["stripe", "athmovil", "dynamics"])
def case(request, stripe_fake, athmovil_fake, dynamics_fake) -> Case:
    return request.param(stripe_fake, athmovil_fake, dynamics_fake)


def test_authorize_capture_and_refund_part_then_the_rest(case):
    payment = case.captured("20.00", "life")
    assert payment.status == PaymentStatus.CAPTURED and payment.captured == Decimal("20.00")

    part = case.gateway.refund(processor_ref=payment.processor_ref, amount=Decimal("5.00"), idempotency_key="rf-a")
    assert part.amount == Decimal("5.00") and part.refund_ref
    status = case.gateway.status(processor_ref=payment.processor_ref)
    assert status.status == PaymentStatus.PARTIALLY_REFUNDED and status.refunded == Decimal("5.00")

    case.gateway.refund(processor_ref=payment.processor_ref, amount=Decimal("15.00"), idempotency_key="rf-b")
    assert case.gateway.status(processor_ref=payment.processor_ref).status == PaymentStatus.REFUNDED
    assert case.refunds_made() == 2


def test_a_refund_asked_twice_with_one_key_is_made_once(case):
    payment = case.captured("12.00", "twice")
    first = case.gateway.refund(processor_ref=payment.processor_ref, amount=Decimal("3.00"), idempotency_key="rf-1")
    again = case.gateway.refund(processor_ref=payment.processor_ref, amount=Decimal("3.00"), idempotency_key="rf-1")
    assert again.refund_ref == first.refund_ref and case.refunds_made() == 1


def test_more_than_is_left_is_refused_in_the_processors_words(case):
    payment = case.captured("10.00", "too-much")
    with pytest.raises(GatewayRefused) as refused:
        case.gateway.refund(processor_ref=payment.processor_ref, amount=Decimal("10.01"), idempotency_key="rf-x")
    assert refused.value.params.get("said")
    assert case.refunds_made() == 0


def test_an_authorization_not_captured_can_be_voided(case):
    held = case.gateway.authorize(amount=Decimal("8.00"), payment_method=case.payment_method, reference="void",
                                  idempotency_key="auth-void")
    voided = case.gateway.void(processor_ref=held.processor_ref, idempotency_key="void-1")
    assert voided.status == PaymentStatus.VOIDED


@pytest.mark.fault
def test_a_rate_limit_is_waited_out_and_the_read_goes_through(case):
    payment = case.captured("6.00", "limited")
    case.fake.control(fail={"status": 429, "count": 1, "retry_after": 0})
    assert case.gateway.status(processor_ref=payment.processor_ref).captured == Decimal("6.00")


@pytest.mark.fault
def test_a_processor_that_is_down_is_unavailable_not_a_refusal(case):
    payment = case.captured("6.00", "down")
    case.fake.control(fail={"status": 503, "count": 20})
    with pytest.raises(VendorUnavailable):
        case.gateway.status(processor_ref=payment.processor_ref)


@pytest.mark.fault
def test_a_processor_that_does_not_answer_in_time_is_unavailable(case):
    case.fake.control(delay_s=1.5)
    with override_settings(CONNECTOR_TIMEOUT_S=0.5), pytest.raises(VendorUnavailable) as late:
        type(case.gateway)(configuration={}, credentials=case.gateway.credentials).status(processor_ref="1")
    assert late.value.reason == "vendor_timeout"
    case.fake.control(delay_s=0)


@pytest.mark.security
def test_an_answer_carrying_a_card_number_is_refused_whole_and_never_logged(case, caplog):
    payment = case.captured("9.00", "pan")
    case.fake.control(card_number_in_next_answer=PAN)
    with caplog.at_level(logging.DEBUG), pytest.raises(CardDataInAnswer):
        case.gateway.status(processor_ref=payment.processor_ref)
    assert PAN not in caplog.text


def test_the_settled_transactions_of_a_business_date(case):
    day = datetime.now(SAN_JUAN).date() - timedelta(days=2)
    at = datetime.combine(day, time(10, 30), tzinfo=SAN_JUAN)
    refs = case.plant(at, [("a", Decimal("11.15")), ("b", Decimal("22.30"))])
    case.plant(at + timedelta(days=1), [("next day", Decimal("5.00"))])

    settlement = case.gateway.settled(day=day, zone=SAN_JUAN)

    sales = [row for row in settlement.transactions if row.kind == SettledKind.SALE]
    assert sorted(row.processor_ref for row in sales) == sorted(refs)
    assert sorted(row.gross for row in sales) == [Decimal("11.15"), Decimal("22.30")]
    assert all(row.net == row.gross - row.fee and row.fee >= 0 for row in sales)
    assert all(row.transacted_at.astimezone(SAN_JUAN).date() == day for row in sales)
