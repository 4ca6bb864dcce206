"""A local fake of the Shopify Admin API (inventory), for the tests and `make run`.

One server stands for many shops: the shop is named by a path prefix (`/{shop}.myshopify.com/admin/api/{v}/…`,
which tests can use) or, without one, by the `Host` header, as on real Shopify. It answers as Shopify documents:
`X-Shopify-Access-Token` tokens bound to their shop on first use, dated API versions that fall forward to the
oldest supported one (`X-Shopify-API-Version` says which was served), the REST leaky bucket per shop with
`X-Shopify-Shop-Api-Call-Limit` and 429 + `Retry-After: 2.0`, locations, inventory items, `inventory_levels/set`
and `/adjust`, and one GraphQL lookup (product variants by SKU) with its own points bucket and THROTTLED answers.
Tests steer it through `POST /_control` and read what was written from `GET /_state` or `server.state`.
Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer

from simulators.base import FakeHandler, Rejected, Reply, json_reply, run_main, serve

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "SHOPIFY_BASE_URL", 8769, "Shopify"

VERSIONS = ("2025-01", "2025-04", "2025-07", "2025-10", "2026-01")
VERSION_FORMAT = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")
ADMIN_PATH = re.compile(r"(?:/([^/]+))?/admin/api/([^/]+)/(.+)")
PLANS = {  # plan → (REST leak per second, REST bucket size, GraphQL restore per second, GraphQL points)
    "standard": (2, 40, 100, 2000),
    "advanced": (4, 80, 200, 4000),
    "plus": (20, 400, 1000, 20000),
}
GRAPHQL_COST = 2  # what the one supported lookup costs
RETRY_AFTER = "2.0"  # Shopify's REST 429 always says 2.0 seconds
FAIL_STATUSES = (429, 500, 502, 503)
MAX_IDS = 100  # inventory_items.json?ids= takes at most 100
MAX_QUANTITY = 1_000_000_000
DEFAULT_LOCATION = (905684977, "Online store")
DEFAULT_ITEMS = 12  # SKU-001 … SKU-012, inventory_item_id 808950811 …
DEFAULT_AVAILABLE = 10
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
MISSING = "Required parameter missing or invalid"
ITEM_GID = "gid://shopify/InventoryItem/"
SKU_TERM = re.compile(r'sku:(?:"([^"]+)"|(\S+))')
CONTROL_KEYS = frozenset(
    ("reset", "revoked_tokens", "versions", "plan", "bucket_used", "graphql_available", "items", "fail")
)


@dataclass
class Item:
    sku: str
    inventory_item_id: int
    available: int  # at the shop's one location


@dataclass
class Shop:
    domain: str
    items: dict[str, Item]  # SKU → item
    locations: dict[int, str] = field(default_factory=lambda: dict([DEFAULT_LOCATION]))
    used: float = 0.0  # REST bucket level
    used_at: float = field(default_factory=time.monotonic)
    points: float | None = None  # GraphQL points left; None = full
    points_at: float = field(default_factory=time.monotonic)

    def by_id(self, inventory_item_id: int) -> Item | None:
        return next((item for item in self.items.values() if item.inventory_item_id == inventory_item_id), None)


@dataclass
class Failure:
    status: int
    count: int
    retry_after: float | None


def errors(status: int, value, headers: dict[str, str] | None = None) -> Reply:
    """Shopify's REST error body: `{"errors": "…"}` or `{"errors": {"field": …}}`."""
    return json_reply(status, {"errors": value}, headers)


def not_found() -> Reply:
    return errors(404, "Not Found")


def invalid(field_name: str, message: str) -> Rejected:
    return Rejected(errors(422, {field_name: [message]}))


def missing(field_name: str) -> Rejected:
    return Rejected(errors(400, {field_name: MISSING}))


def throttle_message(leak_rate: int) -> str:
    return (
        f"Exceeded {leak_rate} calls per second for api client. Reduce request rates to resume uninterrupted service."
    )


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def digest(token: str) -> str:
    """Tokens are kept only as digests: nothing the fake holds could be logged or shown."""
    return hashlib.sha256(token.encode()).hexdigest()


def shop_time() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_items() -> dict[str, Item]:
    items = (Item(f"SKU-{n:03d}", 808950810 + n, DEFAULT_AVAILABLE) for n in range(1, DEFAULT_ITEMS + 1))
    return {item.sku: item for item in items}


def control_shop(domain) -> str:
    if not isinstance(domain, str) or not SHOP_DOMAIN.fullmatch(domain):
        raise ValueError(f"{domain!r} is not a shop domain like colmado-rivera.myshopify.com")
    return domain


def control_items(shop: str, listed) -> dict[str, Item]:
    """One shop's `/_control` `items` list; ValueError when it is malformed."""
    if not isinstance(listed, list):
        raise ValueError(f"items.{shop} must be a list")
    items: dict[str, Item] = {}
    ids: set[int] = set()
    for raw in listed:
        if not isinstance(raw, dict):
            raise ValueError(f"items.{shop}: each item must be an object")
        sku, item_id, available = raw.get("sku"), raw.get("inventory_item_id"), raw.get("available", 0)
        if not isinstance(sku, str) or not sku.strip():
            raise ValueError(f"items.{shop}: each item needs a sku string")
        if not is_integer(item_id) or item_id < 1:
            raise ValueError(f"items.{shop}: {sku}: inventory_item_id must be a positive integer")
        if not is_integer(available) or abs(available) > MAX_QUANTITY:
            raise ValueError(f"items.{shop}: {sku}: available must be an integer")
        if sku in items or item_id in ids:
            raise ValueError(f"items.{shop}: {sku} or inventory_item_id {item_id} is listed twice")
        items[sku] = Item(sku, item_id, available)
        ids.add(item_id)
    return items


class ShopifyState:
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.shops: dict[str, Shop] = {}
        self.tokens: dict[str, str] = {}  # token digest → the shop it is bound to
        self.revoked: set[str] = set()  # token digests
        self.versions: list[str] = list(VERSIONS)
        self.plan = "standard"
        self.fail: Failure | None = None
        self.inventory_writes: list[dict] = []
        self.calls = 0
        self.throttled = 0

    @property
    def limits(self) -> tuple[int, int, int, int]:
        return PLANS[self.plan]

    def shop(self, domain: str) -> Shop:
        if domain not in self.shops:
            self.shops[domain] = Shop(domain, default_items())
        return self.shops[domain]

    def served_version(self, asked: str) -> str | None:
        """The version that answers: the one asked if supported, else the oldest supported; None if malformed."""
        if not VERSION_FORMAT.fullmatch(asked):
            return None
        return asked if asked in self.versions else self.versions[0]

    def leak(self, shop: Shop) -> None:
        now = time.monotonic()
        shop.used = max(0.0, shop.used - (now - shop.used_at) * self.limits[0])
        shop.used_at = now

    def restore(self, shop: Shop) -> float:
        _, _, rate, maximum = self.limits
        now = time.monotonic()
        points = maximum if shop.points is None else shop.points
        shop.points = min(float(maximum), points + (now - shop.points_at) * rate)
        shop.points_at = now
        return shop.points

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        if unknown := sorted(set(body) - CONTROL_KEYS):
            raise ValueError(f"unknown control keys: {', '.join(unknown)}")
        revoked = body.get("revoked_tokens", [])
        if not isinstance(revoked, list) or not all(isinstance(token, str) and token for token in revoked):
            raise ValueError("revoked_tokens must be a list of tokens")
        versions = body.get("versions", VERSIONS)
        if (
            not isinstance(versions, list | tuple)
            or not versions
            or not all(isinstance(v, str) and VERSION_FORMAT.fullmatch(v) for v in versions)
        ):
            raise ValueError("versions must be a non-empty list of YYYY-MM strings")
        plan = body.get("plan", "standard" if body.get("reset") else self.plan)
        if plan not in PLANS:
            raise ValueError(f"plan must be one of {', '.join(PLANS)}")
        _, size, _, points = PLANS[plan]
        fail = body.get("fail")
        if fail is not None:
            if not isinstance(fail, dict) or fail.get("status") not in FAIL_STATUSES:
                raise ValueError("fail.status must be one of 429, 500, 502, 503")
            count, retry_after = fail.get("count", 1), fail.get("retry_after")
            if not is_integer(count) or count < 1:
                raise ValueError("fail.count must be a positive integer")
            if retry_after is not None and (
                isinstance(retry_after, bool) or not isinstance(retry_after, int | float) or retry_after < 0
            ):
                raise ValueError("fail.retry_after must be a number of seconds or null")
        levels = {}
        for key, top in (("bucket_used", size), ("graphql_available", points)):
            preset = body.get(key) or {}
            if not isinstance(preset, dict):
                raise ValueError(f"{key} must be {{shop: number}}")
            for domain, value in preset.items():
                control_shop(domain)
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
                    raise ValueError(f"{key}.{domain} must be a number from 0 to {top} on the {plan} plan")
            levels[key] = preset
        items = body.get("items") or {}
        if not isinstance(items, dict):
            raise ValueError("items must be {shop: [{sku, inventory_item_id, available}, …]}")
        catalogs = {control_shop(domain): control_items(domain, listed) for domain, listed in items.items()}

        if body.get("reset"):
            self.reset()
        if "revoked_tokens" in body:
            self.revoked = {digest(token) for token in revoked}
        if "versions" in body:
            self.versions = sorted(set(versions))
        self.plan = plan
        for shop in self.shops.values():  # a smaller plan caps what is already in the buckets
            shop.used = min(shop.used, size)
            shop.points = None if shop.points is None else min(shop.points, points)
        if "fail" in body:
            self.fail = fail and Failure(fail["status"], fail.get("count", 1), fail.get("retry_after"))
        now = time.monotonic()
        for domain, value in levels["bucket_used"].items():
            shop = self.shop(domain)
            shop.used, shop.used_at = float(value), now
        for domain, value in levels["graphql_available"].items():
            shop = self.shop(domain)
            shop.points, shop.points_at = float(value), now
        for domain, catalog in catalogs.items():
            self.shop(domain).items = catalog

    def snapshot(self) -> dict:
        """What `/_state` shows: no tokens."""
        return {
            "shops": list(self.shops),
            "inventory_writes": [dict(write) for write in self.inventory_writes],
            "calls": self.calls,
            "throttled": self.throttled,
            "levels": {
                domain: {sku: item.available for sku, item in shop.items.items()} for domain, shop in self.shops.items()
            },
        }


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
        if (self.command, resource) == ("POST", "graphql.json"):
            if state.fail:
                return self._injected_failure()
            return self._graphql(shop, raw)
        leak_rate, size, _, _ = state.limits
        state.leak(shop)
        if shop.used > size - 1:  # full: refused and not added
            state.throttled += 1
            self._call_limit(shop)
            return errors(429, throttle_message(leak_rate), {"Retry-After": RETRY_AFTER})
        if state.fail and state.fail.status == 429:  # a 429 is never added to the bucket
            self._call_limit(shop)
            return self._injected_failure()
        shop.used += 1
        self._call_limit(shop)
        if state.fail:
            return self._injected_failure()
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

    def _injected_failure(self) -> Reply:
        fail = self.state.fail
        fail.count -= 1
        if fail.count <= 0:
            self.state.fail = None
        headers = {"Retry-After": str(float(fail.retry_after))} if fail.retry_after is not None else None
        if fail.status == 429:
            return errors(429, throttle_message(self.state.limits[0]), headers)
        return errors(fail.status, "Internal Server Error", headers)

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

    def _graphql(self, shop: Shop, raw: bytes) -> Reply:
        """Answers only `productVariants(query: $query)` with `$query` = `sku:X [OR sku:Y …]`."""
        body = self._json_body(raw)
        query, variables = body.get("query"), body.get("variables")
        if not isinstance(query, str) or not query.strip():
            raise missing("query")
        search = variables.get("query") if isinstance(variables, dict) else None
        terms = search.split(" OR ") if isinstance(search, str) else []
        matches = [SKU_TERM.fullmatch(term.strip()) for term in terms]
        if "productVariants" not in query or not matches or not all(matches):
            message = "The simulator answers only productVariants with variables.query 'sku:X' or 'sku:X OR sku:Y'"
            return json_reply(200, {"errors": [{"message": message, "extensions": {"code": "UNSUPPORTED"}}]})
        _, _, rate, maximum = self.state.limits
        available = self.state.restore(shop)
        throttled = available < GRAPHQL_COST
        if throttled:
            self.state.throttled += 1
        else:
            shop.points = available = available - GRAPHQL_COST
        cost = {
            "requestedQueryCost": GRAPHQL_COST,
            "actualQueryCost": None if throttled else GRAPHQL_COST,
            "throttleStatus": {
                "maximumAvailable": float(maximum),
                "currentlyAvailable": math.floor(available),
                "restoreRate": float(rate),
            },
        }
        if throttled:
            error = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}
            return json_reply(200, {"errors": [error], "extensions": {"cost": cost}})
        wanted = {(match.group(1) or match.group(2)).lower() for match in matches}  # Shopify search ignores case
        edges = [
            {"node": {"sku": item.sku, "inventoryItem": {"id": f"{ITEM_GID}{item.inventory_item_id}"}}}
            for item in shop.items.values()
            if item.sku.lower() in wanted
        ]
        return json_reply(200, {"data": {"productVariants": {"edges": edges}}, "extensions": {"cost": cost}})


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve(ShopifyHandler, ShopifyState(), host, port)


def main() -> None:
    run_main("Shopify", "Shopify Admin API (inventory) simulator", PORT, make_server)


if __name__ == "__main__":
    main()
