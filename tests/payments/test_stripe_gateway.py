"""The Stripe adapter over real HTTP against the Stripe fake: what only Stripe does (idempotency
keys, Stripe-Should-Retry, the webhook signature). What every processor does is in
test_gateway_conformance.py."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from integrations.connectors.base import InboundRejected
from payments.gateways.port import PaymentDeclined, PaymentStatus, UnknownOutcome
from payments.gateways.stripe import Stripe
from simulators.stripe.webhooks import signature_header

KEY = "sk_test_conformance01"
WEBHOOK_SECRET = "whsec_testsecret123"


def _stripe(key: str = KEY) -> Stripe:
    return Stripe(configuration={}, credentials={"secret_key": key, "webhook_secret": WEBHOOK_SECRET})


def _account(stripe_fake) -> dict:
    return next(iter(stripe_fake.posted()["accounts"].values()))


def test_every_post_carries_an_idempotency_key_and_a_repeat_is_one_operation(stripe_fake):
    gateway = _stripe()
    payment = gateway.authorize(amount=Decimal("20.00"), payment_method="pm_card_visa", reference="S-1",
                                idempotency_key="auth-1")
    again = gateway.authorize(amount=Decimal("20.00"), payment_method="pm_card_visa", reference="S-1",
                              idempotency_key="auth-1")
    assert again.processor_ref == payment.processor_ref
    gateway.capture(processor_ref=payment.processor_ref, amount=None, idempotency_key="cap-1")
    first = gateway.refund(processor_ref=payment.processor_ref, amount=Decimal("5.00"), idempotency_key="rf-1")
    second = gateway.refund(processor_ref=payment.processor_ref, amount=Decimal("5.00"), idempotency_key="rf-1")
    assert first.refund_ref == second.refund_ref
    account = _account(stripe_fake)
    assert account["posts_without_idempotency_key"] == 0
    assert account["refunds"] == 1 and account["payment_intents"] == 1
    assert gateway.status(processor_ref=payment.processor_ref).refunded == Decimal("5.00")


def test_a_declined_card_is_a_decline_in_stripes_words():
    with pytest.raises(PaymentDeclined) as declined:
        _stripe().authorize(amount=Decimal("9.00"), payment_method="pm_card_chargeDeclined", reference="S-2",
                            idempotency_key="auth-declined")
    assert "declined" in declined.value.message.lower()


def test_a_500_stripe_kept_against_the_key_is_an_unknown_outcome_not_repeated(stripe_fake):
    gateway = _stripe()
    payment = gateway.authorize(amount=Decimal("10.00"), payment_method="pm_card_visa", reference="S-3",
                                idempotency_key="auth-3")
    gateway.capture(processor_ref=payment.processor_ref, amount=None, idempotency_key="cap-3")
    stripe_fake.control(fail={"status": 500, "count": 1})
    with pytest.raises(UnknownOutcome):
        gateway.refund(processor_ref=payment.processor_ref, amount=Decimal("1.00"), idempotency_key="rf-3")
    refunds = [row for row in stripe_fake.posted()["recent_requests"] if row["path"] == "/v1/refunds"]
    assert len(refunds) == 1, "a stored 500 is never sent again by the same call"


def test_a_lock_timeout_is_retried_with_the_same_key(stripe_fake):
    gateway = _stripe()
    stripe_fake.control(fail={"status": 409, "count": 1})
    payment = gateway.authorize(amount=Decimal("4.00"), payment_method="pm_card_visa", reference="S-4",
                                idempotency_key="auth-4")
    assert payment.status == PaymentStatus.AUTHORIZED
    keys = [row["idempotency_key"] for row in stripe_fake.posted()["recent_requests"]
            if row["path"] == "/v1/payment_intents"]
    assert keys == ["auth-4", "auth-4"]


def _event(event_id: str = "evt_1") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": "payout.paid",
                       "data": {"object": {"id": "po_1", "amount": 1000, "arrival_date": int(time.time())}}}).encode()


@pytest.mark.security
def test_a_webhook_signed_with_the_endpoint_secret_within_five_minutes_is_accepted():
    body = _event()
    meta = Stripe.verify_inbound(headers={"Stripe-Signature": signature_header(body, WEBHOOK_SECRET)}, body=body,
                                 credentials={"webhook_secret": WEBHOOK_SECRET})
    assert (meta.webhook_id, meta.topic) == ("evt_1", "payout.paid")
    rotated = signature_header(body, "whsec_old") + "," + signature_header(body, WEBHOOK_SECRET).split(",")[1]
    assert Stripe.verify_inbound(headers={"Stripe-Signature": rotated}, body=body,
                                 credentials={"webhook_secret": WEBHOOK_SECRET}).webhook_id == "evt_1"


@pytest.mark.security
@pytest.mark.parametrize("header", [
    None,
    "t=1,v1=abc",
    "garbage",
    "stale",
    "other-secret",
    "tampered",
])
def test_a_webhook_with_a_bad_missing_or_stale_signature_is_refused(header):
    body = _event()
    headers = {}
    if header == "stale":
        headers["Stripe-Signature"] = signature_header(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    elif header == "other-secret":
        headers["Stripe-Signature"] = signature_header(body, "whsec_other")
    elif header == "tampered":
        headers["Stripe-Signature"] = signature_header(_event("evt_2"), WEBHOOK_SECRET)
    elif header is not None:
        headers["Stripe-Signature"] = header
    with pytest.raises(InboundRejected):
        Stripe.verify_inbound(headers=headers, body=body, credentials={"webhook_secret": WEBHOOK_SECRET})
