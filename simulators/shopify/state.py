"""Everything the Shopify fake remembers: shops (their items, location and rate-limit buckets), the tokens bound to
them (as digests) and the inventory writes; what `POST /_control` changes in it and what `GET /_state` shows."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field

from simulators.faults import Faults

VERSIONS = ("2025-01", "2025-04", "2025-07", "2025-10", "2026-01")
VERSION_FORMAT = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")
PLANS = {  # plan → (REST leak per second, REST bucket size, GraphQL restore per second, GraphQL points)
    "standard": (2, 40, 100, 2000),
    "advanced": (4, 80, 200, 4000),
    "plus": (20, 400, 1000, 20000),
}
MAX_QUANTITY = 1_000_000_000
DEFAULT_LOCATION = (905684977, "Online store")
DEFAULT_ITEMS = 12  # SKU-001 … SKU-012, inventory_item_id 808950811 …
DEFAULT_AVAILABLE = 10
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


def is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def digest(token: str) -> str:
    """Tokens are kept only as digests: nothing the fake holds could be logged or shown."""
    return hashlib.sha256(token.encode()).hexdigest()


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
        self.faults = Faults((429, 500, 502, 503))
        self.reset()

    def reset(self) -> None:
        self.shops: dict[str, Shop] = {}
        self.tokens: dict[str, str] = {}  # token digest → the shop it is bound to
        self.revoked: set[str] = set()  # token digests
        self.versions: list[str] = list(VERSIONS)
        self.plan = "standard"
        self.faults.scheduled = None
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
        fail = self.faults.parse(body)
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
            self.faults.scheduled = fail
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
