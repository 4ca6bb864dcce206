"""Shopify: inbound webhooks verified as Shopify documents them; orders deduct store inventory.

Outbound calls still go to the demo simulator until the full Shopify connector (issue 5).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import F
from django_tenants.utils import schema_context

from integrations.connectors import register
from integrations.connectors.base import InboundMeta, InboundRejected
from integrations.connectors.demo import EVENTS_BY_CODE, DemoConnector

CODE = "ecommerce.shopify"
# Shopify retries a failed webhook for up to 4 hours with the original payload; older is a replay.
MAX_AGE = timedelta(hours=5)
ORDER_TOPICS = {"orders/create"}


@register(CODE)
class ShopifyConnector(DemoConnector):
    event_types = EVENTS_BY_CODE[CODE]

    @classmethod
    def verify_inbound(cls, *, headers, body: bytes, credentials: dict) -> InboundMeta:
        secret = credentials.get("webhook_secret", "")
        given = headers.get("X-Shopify-Hmac-Sha256", "")
        if not secret or not given:
            raise InboundRejected("Missing Shopify signature.")
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, given):
            raise InboundRejected("The Shopify signature does not match.")
        webhook_id = headers.get("X-Shopify-Webhook-Id", "")
        topic = headers.get("X-Shopify-Topic", "")
        if not webhook_id or not topic:
            raise InboundRejected("Missing X-Shopify-Webhook-Id or X-Shopify-Topic.")
        triggered_at = headers.get("X-Shopify-Triggered-At", "")
        try:
            moment = datetime.fromisoformat(triggered_at.replace("Z", "+00:00"))
        except ValueError:
            raise InboundRejected("Missing or unreadable X-Shopify-Triggered-At.") from None
        if moment.tzinfo is None or datetime.now(UTC) - moment > MAX_AGE:
            raise InboundRejected("The webhook is stale (triggered more than 5 hours ago).")
        return InboundMeta(webhook_id=webhook_id, topic=topic)

    def process_inbound(self, *, merchant, topic: str, payload: dict) -> None:
        if topic not in ORDER_TOPICS:
            return
        from merchants.store.models import StockLevel

        location_code = merchant.locations.order_by("code").values_list("code", flat=True).first()  # online store stock
        with schema_context(merchant.schema_name), transaction.atomic():
            for line in payload.get("line_items", []):
                sku, quantity = line.get("sku"), int(line.get("quantity") or 0)
                if sku and quantity:
                    StockLevel.objects.filter(product__sku=sku, location_code=location_code).update(
                        on_hand=F("on_hand") - quantity
                    )
