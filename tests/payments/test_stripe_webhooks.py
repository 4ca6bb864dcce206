"""Stripe webhooks at the hub's receiver: verified by Stripe-Signature (401 and nothing stored
otherwise), stored once per event id (a repeat is acknowledged and changes nothing), and applied:
a payout is kept for the money trail, a refund event finishes a pending refund with its key."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context

from merchants.store.models import Sale
from payments import refunds
from payments.store.models import ProcessorPayout, RefundStatus
from simulators.stripe.webhooks import signature_header
from tests.payments.factories import stripe_card_sale, stripe_connected
from webhooks.models import InboundWebhook

SECRET = "whsec_test1"  # stripe_connected's


@pytest.fixture
def eager_tasks():
    from qiiub.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def _payout_event(event_id: str = "evt_payout_1") -> bytes:
    return json.dumps({"id": event_id, "object": "event", "type": "payout.paid", "data": {"object": {
        "id": "po_demo_1", "object": "payout", "amount": 12345, "arrival_date": int(time.time())}}}).encode()


def _post(client, integration, body: bytes, signature: str | None):
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(reverse("inbound-webhook", args=[integration.pk]), data=body, content_type="application/json",
                       **headers)


@pytest.mark.security
@pytest.mark.parametrize("signature", [None, "t=1,v1=00", "stale", "wrong-secret"])
def test_a_bad_missing_or_stale_signature_is_401_and_nothing_is_stored(client, personas, stripe_fake, signature):
    stripe = stripe_connected(personas.colmado)
    body = _payout_event()
    if signature == "stale":
        signature = signature_header(body, SECRET, timestamp=int(time.time()) - 600)
    elif signature == "wrong-secret":
        signature = signature_header(body, "whsec_someoneelse")

    answer = _post(client, stripe, body, signature)

    assert answer.status_code == 401
    assert not InboundWebhook.objects.filter(merchant_integration=stripe).exists()


def test_a_payout_is_kept_once_and_a_repeat_changes_nothing(client, personas, stripe_fake, eager_tasks,
                                                             django_capture_on_commit_callbacks):
    stripe = stripe_connected(personas.colmado)
    body = _payout_event()

    with django_capture_on_commit_callbacks(execute=True):
        first = _post(client, stripe, body, signature_header(body, SECRET))
    with django_capture_on_commit_callbacks(execute=True):
        again = _post(client, stripe, body, signature_header(body, SECRET))

    assert first.status_code == again.status_code == 200 and again.json()["duplicate"] is True
    assert InboundWebhook.objects.filter(merchant_integration=stripe).count() == 1
    with schema_context(personas.colmado.schema_name):
        payout = ProcessorPayout.objects.get()
    assert (payout.payout_ref, str(payout.amount)) == ("po_demo_1", "123.45")


def test_a_refund_event_finishes_a_pending_refund_with_its_key(client, personas, stripe_fake, eager_tasks,
                                                               django_capture_on_commit_callbacks):
    merchant = personas.colmado
    stripe = stripe_connected(merchant)
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=timezone.now() - timedelta(hours=2))
    with schema_context(merchant.schema_name):
        tender = Sale.objects.get(client_uuid=sale_uuid).tenders.get()
    stripe_fake.control(fail={"status": 503, "count": 3})
    pending = refunds.refund_request(merchant=merchant, sale_id=tender.sale_id, tender_id=tender.pk, amount="3.00",
                                     refund_id=uuid.uuid4(), by=None)
    assert pending.status == RefundStatus.PENDING
    body = json.dumps({"id": "evt_refund_1", "object": "event", "type": "refund.created", "data": {"object": {
        "id": "re_x", "object": "refund", "amount": 300, "metadata": {"qiiub_refund": str(pending.pk)}}}}).encode()

    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, stripe, body, signature_header(body, SECRET)).status_code == 200

    with schema_context(merchant.schema_name):
        pending.refresh_from_db()
    assert pending.status == RefundStatus.SUCCEEDED
