"""The Shopify fake's Admin API routes: the shop from the path or the Host header, dated versions, tokens bound to their
shop, the REST leaky bucket with its headers, locations, inventory items and `inventory_levels/set` and `/adjust`;
GraphQL goes to `graphql`."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

from simulators.base import FakeHandler, Rejected, Reply, json_reply
from simulators.shopify.graphql import variants_by_sku
from simulators.shopify.replies import (
    INVALID_TOKEN,
    errors,
    failure_reply,
    invalid,
    missing,
    not_found,
    throttle_message,
)
from simulators.shopify.state import MAX_QUANTITY, SHOP_DOMAIN, Shop, ShopifyState, digest, is_integer

ADMIN_PATH = re.compile(r"(?:/([^/]+))?/admin/api/([^/]+)/(.+)")
RETRY_AFTER = "2.0"  # Shopify's REST 429 always says 2.0 seconds
MAX_IDS = 100  # inventory_items.json?ids= takes at most 100


def shop_time() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ShopifyHandler(FakeHandler):
    server_version = "ShopifySimulator/1.0"
    request_id_header = "X-Request-Id"
    state: ShopifyState
    extra_headers: dict[str, str]  # set while answering the Admin API; sent even when Rejected ends the request

    def answer(self, path: str, raw: bytes) -> Reply:
        match = ADMIN_PATH.fullmatch(path)
        if not match:
            return not_found()
        self.extra_headers = {}
        try:
            with self.state.lock:
                reply = self._admin(raw, *match.groups())
        except Rejected as rejected:
            reply = rejected.reply
        return reply._replace(headers={**self.extra_headers, **(reply.headers or {})})

    # --- Admin API (called with the state lock held) ---

    def _admin(self, raw: bytes, prefix: str | None, version: str, resource: str) -> Reply:
        state = self.state
        state.calls += 1
        served = state.served_version(version)
        self.extra_headers["X-Shopify-API-Version"] = served or state.versions[0]
        domain = (prefix or self.headers.get("Host", "").rsplit(":", 1)[0]).lower()
        if served is None or not SHOP_DOMAIN.fullmatch(domain):
            return not_found()
        self._authenticate(domain)
        shop = state.shop(domain)  # a shop exists from its first authenticated call
        leak_rate, size, _, _ = state.limits
        if (self.command, resource) == ("POST", "graphql.json"):
            if fail := state.faults.due():
                return failure_reply(fail, leak_rate)
            return variants_by_sku(state, shop, self._json_body(raw))
        state.leak(shop)
        if shop.used > size - 1:  # full: refused and not added
            state.throttled += 1
            self._call_limit(shop)
            return errors(429, throttle_message(leak_rate), {"Retry-After": RETRY_AFTER})
        scheduled = state.faults.scheduled
        if scheduled and scheduled.status == 429:  # a 429 is never added to the bucket
            self._call_limit(shop)
            return failure_reply(state.faults.due(), leak_rate)
        shop.used += 1
        self._call_limit(shop)
        if fail := state.faults.due():
            return failure_reply(fail, leak_rate)
        match (self.command, resource):
            case ("GET", "locations.json"):
                locations = [{"id": id_, "name": name, "active": True} for id_, name in shop.locations.items()]
                return json_reply(200, {"locations": locations})
            case ("GET", "inventory_items.json"):
                return self._inventory_items(shop)
            case ("POST", "inventory_levels/set.json"):
                return self._write(shop, raw, "set")
            case ("POST", "inventory_levels/adjust.json"):
                return self._write(shop, raw, "adjust")
        return not_found()

    def _authenticate(self, domain: str) -> None:
        token = self.headers.get("X-Shopify-Access-Token", "").strip()
        key = digest(token) if token else ""
        if token and key not in self.state.revoked and self.state.tokens.setdefault(key, domain) == domain:
            return
        raise Rejected(errors(401, INVALID_TOKEN))  # missing, revoked or another shop's token alike

    def _call_limit(self, shop: Shop) -> None:
        self.extra_headers["X-Shopify-Shop-Api-Call-Limit"] = f"{math.ceil(shop.used)}/{self.state.limits[1]}"

    def _json_body(self, raw: bytes) -> dict:
        if self._media_type() != "application/json":
            raise Rejected(errors(415, "Unsupported Media Type: Content-Type must be application/json"))
        try:
            body = json.loads(raw)
        except ValueError:
            raise Rejected(errors(400, "Bad Request: the body is not valid JSON")) from None
        if not isinstance(body, dict):
            raise Rejected(errors(400, "Bad Request: the body must be a JSON object"))
        return body

    def _inventory_items(self, shop: Shop) -> Reply:
        text = self.params.get("ids", "")
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts or not all(part.isdecimal() for part in parts):
            raise missing("ids")
        if len(parts) > MAX_IDS:
            raise invalid("ids", f"must contain at most {MAX_IDS} ids")
        wanted = {int(part) for part in parts}
        found = [
            {"id": item.inventory_item_id, "sku": item.sku, "tracked": True}
            for item in sorted(shop.items.values(), key=lambda item: item.inventory_item_id)
            if item.inventory_item_id in wanted
        ]
        return json_reply(200, {"inventory_items": found})

    def _write(self, shop: Shop, raw: bytes, kind: str) -> Reply:
        """`inventory_levels/set` or `/adjust` at the shop's location; every accepted write is recorded."""
        body = self._json_body(raw)
        ids = {}
        for name in ("location_id", "inventory_item_id"):
            value = body.get(name)
            if isinstance(value, str) and value.strip().isdecimal():  # Shopify takes an id as a string of digits
                value = int(value)
            if not is_integer(value) or value < 1:
                raise missing(name)
            ids[name] = value
        quantity_field = "available" if kind == "set" else "available_adjustment"
        if quantity_field not in body or body[quantity_field] is None:
            raise missing(quantity_field)
        quantity = body[quantity_field]
        if not is_integer(quantity):
            raise invalid(quantity_field, "must be an integer")
        disconnect = body.get("disconnect_if_necessary", False)
        if kind == "set" and not isinstance(disconnect, bool):
            raise invalid("disconnect_if_necessary", "must be a boolean")
        if ids["location_id"] not in shop.locations:
            return not_found()
        item = shop.by_id(ids["inventory_item_id"])
        if item is None:
            return not_found()
        available = quantity if kind == "set" else item.available + quantity
        if abs(available) > MAX_QUANTITY:
            raise invalid("available", f"must be between -{MAX_QUANTITY:,} and {MAX_QUANTITY:,}")
        item.available = available
        updated_at = shop_time()
        self.state.inventory_writes.append(
            {
                "shop": shop.domain,
                "sku": item.sku,
                "inventory_item_id": item.inventory_item_id,
                "location_id": ids["location_id"],
                "available": available,
                "kind": kind,
                "idempotency_key": self.headers.get("Idempotency-Key") or None,
                "updated_at": updated_at,
            }
        )
        level = {
            "inventory_item_id": item.inventory_item_id,
            "location_id": ids["location_id"],
            "available": available,
            "updated_at": updated_at,
        }
        return json_reply(200, {"inventory_level": level})
