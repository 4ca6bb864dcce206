"""Shopify: online orders deduct store inventory (inbound webhooks, verified as Shopify documents),
and the online store's stock levels are pushed to Shopify (`inventory.changed`).

Facts: shared/reference/vendors.md ("Shopify Admin API"). The API version is in every path. A push
sets the absolute level (`inventory_levels/set`), so a repeated delivery is harmless. Shopify's REST
bucket leaks about 2 calls a second: when `X-Shopify-Shop-Api-Call-Limit` says the bucket is nearly
full we slow down, and a 429 is retried after its Retry-After by the event bus.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django_tenants.utils import schema_context

from events.types import INVENTORY_CHANGED
from integrations.connectors.base import Connector, InboundMeta, InboundRejected
from integrations.connectors.registry import register
from merchants.store.models import StockLevel
from qiiub.http import RateLimited, VendorRejected, shared_session

logger = logging.getLogger(__name__)

CODE = "ecommerce.shopify"
# Shopify retries a failed webhook for up to 4 hours with the original payload; older is a replay.
MAX_AGE = timedelta(hours=5)
ORDER_TOPICS = {"orders/create"}
LEAK_PER_S = 2.0  # the Standard plan's leak rate: the slowest, so pacing for it is safe on every plan
PACE_FROM = 0.8  # start pacing when the bucket is this full
LOOKUP_TTL_S = 24 * 3600  # a SKU's inventory item and the shop's location change rarely
SKU_LOOKUP = """query($query: String!) { productVariants(first: 5, query: $query) {
  edges { node { sku inventoryItem { id } } } } }"""


@register(CODE)
class Shopify(Connector):
    capabilities = frozenset({"test_connection", "handle_event", "receive_webhook"})
    event_types = frozenset({INVENTORY_CHANGED.code})
    max_delivery_attempts = 8
    # Stock levels are written as absolute numbers: one at a time keeps them in the order of the
    # sales (and the call bucket leaks only 2 a second anyway).
    max_concurrent_deliveries = 1

    @classmethod
    def handles(cls, event_type: str, configuration: dict) -> bool:
        return super().handles(event_type, configuration) and configuration.get("push_inventory", True)

    @property
    def _shop(self) -> str:
        return self.configuration["shop_domain"]

    def _url(self, resource: str) -> str:
        host = f"{settings.SHOPIFY_BASE_URL}/{self._shop}" if settings.SHOPIFY_BASE_URL else f"https://{self._shop}"
        return f"{host}/admin/api/{settings.SHOPIFY_API_VERSION}/{resource}"

    def _call(self, method: str, resource: str, **kwargs) -> dict:
        response = self._request(shared_session(), method, self._url(resource), headers={
            "X-Shopify-Access-Token": self.credentials.get("admin_api_token", ""), "Accept": "application/json"},
            **kwargs)
        _pace(response.headers.get("X-Shopify-Shop-Api-Call-Limit", ""))
        return response.json()

    def vendor_message(self, response: requests.Response) -> str:
        try:
            errors = response.json().get("errors")
        except (ValueError, AttributeError):
            return ""
        if isinstance(errors, dict):
            return "; ".join(f"{field} {' '.join(map(str, problems))}" for field, problems in errors.items())
        return str(errors or "")

    def test_connection(self) -> None:
        self._location_id()

    def handle_event(self, *, event_id: str, event_type: str, payload: dict) -> None:
        """Set the online store's level of one SKU to what the store has on hand."""
        if payload.get("location") != _online_stock_location(self.integration.merchant):
            return  # another store's shelf: not what Shopify sells from
        item = self._inventory_item(payload["sku"])
        if item is None:
            logger.info("shopify.sku_not_online", extra={"integration_id": getattr(self.integration, "pk", None)})
            return  # not sold online: nothing to push
        self._call("POST", "inventory_levels/set.json", json={
            "location_id": self._location_id(), "inventory_item_id": item, "available": int(payload["on_hand"])})

    def _location_id(self) -> int:
        key = f"shopify:location:{self._shop}"
        if (cached := cache.get(key)) is not None:
            return cached
        active = [location for location in self._call("GET", "locations.json")["locations"] if location.get("active")]
        if not active:
            raise VendorRejected("no_stock_location", vendor="Shopify")
        cache.set(key, active[0]["id"], timeout=LOOKUP_TTL_S)
        return active[0]["id"]

    def _inventory_item(self, sku: str) -> int | None:
        key = f"shopify:item:{self._shop}:{hashlib.sha256(sku.encode()).hexdigest()[:16]}"
        if (cached := cache.get(key)) is not None:
            return cached or None
        body = self._call("POST", "graphql.json", json={"query": SKU_LOOKUP, "variables": {"query": f"sku:{sku}"}})
        if any((error.get("extensions") or {}).get("code") == "THROTTLED" for error in body.get("errors") or []):
            raise RateLimited("query_budget_used", retry_after=2, vendor="Shopify")
        matches = [edge["node"] for edge in body["data"]["productVariants"]["edges"] if edge["node"]["sku"] == sku]
        item = int(matches[0]["inventoryItem"]["id"].rsplit("/", 1)[1]) if matches else 0
        cache.set(key, item, timeout=LOOKUP_TTL_S)
        return item or None

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
        """An online order takes its items from the online store's stock. No event follows: the
        level it leaves is Shopify's own already."""
        if topic not in ORDER_TOPICS:
            return
        location_code = _online_stock_location(merchant)
        with schema_context(merchant.schema_name), transaction.atomic():
            for line in payload.get("line_items", []):
                sku, quantity = line.get("sku"), int(line.get("quantity") or 0)
                if sku and quantity:
                    StockLevel.objects.filter(product__sku=sku, location_code=location_code).update(
                        on_hand=F("on_hand") - quantity
                    )


def _online_stock_location(merchant) -> str | None:
    """The store whose shelf the online shop sells from: the merchant's first location by code."""
    return merchant.locations.order_by("code").values_list("code", flat=True).first()


def _pace(call_limit: str) -> None:
    """Wait for the bucket to drain below PACE_FROM when Shopify says it is fuller ("32/40")."""
    try:
        used, size = (int(part) for part in call_limit.split("/"))
    except ValueError:
        return
    if used >= size * PACE_FROM:
        time.sleep(min(2.0, (used - size * PACE_FROM + 1) / LEAK_PER_S))
