"""What a verified Stripe webhook changes (stored once per event id and applied on a worker by the
webhooks app's inbound pipeline): a refund the hub made is settled by the same key, a payout is
kept for the money trail. Anything else is acknowledged and changes nothing: reconciliation reads
the settled figures from Stripe itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django_tenants.utils import schema_context

from integrations.models import MerchantIntegration
from payments.gateways.port import from_cents
from payments.refunds import refund_resume
from payments.store.models import ProcessorPayout

REFUND_EVENTS = {"refund.created", "refund.updated", "charge.refund.updated"}
PAYOUT_EVENTS = {"payout.paid", "payout.reconciliation_completed"}


def stripe_event_apply(*, integration: MerchantIntegration, topic: str, payload: dict) -> None:
    item = (payload.get("data") or {}).get("object") or {}
    if topic in REFUND_EVENTS:
        refund_id = (item.get("metadata") or {}).get("qiiub_refund")
        try:
            refund_id = uuid.UUID(str(refund_id))
        except ValueError:
            return  # a refund made outside the hub: reconciliation shows it
        refund_resume(merchant=integration.merchant, refund_id=refund_id)
    elif topic in PAYOUT_EVENTS and item.get("id") and item.get("arrival_date"):
        with schema_context(integration.merchant.schema_name):
            ProcessorPayout.objects.update_or_create(
                merchant_integration_id=integration.pk, payout_ref=str(item["id"]),
                defaults={"arrival_date": datetime.fromtimestamp(int(item["arrival_date"]), UTC).date(),
                          "amount": from_cents(int(item.get("amount") or 0))})
