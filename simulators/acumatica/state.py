"""Everything the Acumatica fake remembers: tenants' catalogs, users (as password digests) and cookie sessions; what
`POST /_control` changes in it and what `GET /_state` shows."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass

from simulators.acumatica.catalog import DEFAULT_SKUS, Item, control_item, default_catalog, now_ms
from simulators.faults import Faults

DEFAULT_MAX_SESSIONS = 2  # a trial license allows 2 API users
SESSION_IDLE = 600  # seconds without a request before a session ends
LAST_FILTERS = 20


@dataclass
class Session:
    tenant: str
    last_used: float  # time.monotonic()


class AcumaticaState:
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.faults = Faults((429, 500, 503), retry_after=False, after=True)  # Acumatica sends no Retry-After
        self.reset()

    def reset(self) -> None:
        self.tenants: list[str] = []
        self.catalogs: dict[str, dict[str, Item]] = {}  # tenant → InventoryID → item
        self.users: dict[tuple[str, str], str] = {}  # (tenant, name) → password digest, never the password
        self.sessions: dict[str, Session] = {}  # .ASPXAUTH value → session
        self.wrong_passwords: set[str] = set()
        self.max_sessions = DEFAULT_MAX_SESSIONS
        self.requests_per_minute: int | None = None
        self.hits: dict[str, deque[float]] = {}  # tenant → times of recent accepted entity requests
        self.faults.scheduled = None
        self.logins = 0
        self.logouts = 0
        self.entity_requests = 0
        self.last_filters: deque[list] = deque(maxlen=LAST_FILTERS)

    def catalog(self, tenant: str) -> dict[str, Item]:
        if tenant not in self.catalogs:
            self.catalogs[tenant] = default_catalog(tenant)
        if tenant not in self.tenants:
            self.tenants.append(tenant)
        return self.catalogs[tenant]

    def purge(self) -> None:
        """Ends sessions idle for more than SESSION_IDLE seconds."""
        cutoff = time.monotonic() - SESSION_IDLE
        for token in [token for token, session in self.sessions.items() if session.last_used <= cutoff]:
            del self.sessions[token]

    def session(self, token: str) -> Session | None:
        self.purge()
        return self.sessions.get(token) if token else None

    def open_sessions(self, tenant: str) -> int:
        return sum(1 for session in self.sessions.values() if session.tenant == tenant)

    def password_ok(self, tenant: str, name: str, password: str) -> bool:
        """Remembers a new user's password (as a digest); a known user must give the same one again."""
        if password in self.wrong_passwords:
            return False
        digest = hashlib.sha256(f"{tenant}\0{name}\0{password}".encode()).hexdigest()
        known = self.users.setdefault((tenant, name), digest)
        return hmac.compare_digest(known, digest)

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        wrong = body.get("wrong_passwords", [])
        if not isinstance(wrong, list) or not all(isinstance(password, str) for password in wrong):
            raise ValueError("wrong_passwords must be a list of strings")
        max_sessions = body.get("max_sessions", DEFAULT_MAX_SESSIONS if body.get("reset") else self.max_sessions)
        if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 0:
            raise ValueError("max_sessions must be an integer ≥ 0")
        rate = body.get("requests_per_minute")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate < 1):
            raise ValueError("requests_per_minute must be a positive integer or null")
        fail = self.faults.parse(body)
        items = body.get("items") or {}
        if not isinstance(items, dict) or not all(isinstance(listed, list) for listed in items.values()):
            raise ValueError("items must be {tenant: [item, …]}")
        catalogs: dict[str, dict[str, Item]] = {}
        for tenant, listed in items.items():
            catalog = catalogs[tenant] = {}
            for raw in listed:
                item = control_item(tenant, raw)
                if item.inventory_id in catalog:
                    raise ValueError(f"{tenant}: InventoryID {item.inventory_id} is listed twice")
                catalog[item.inventory_id] = item
        touch = body.get("touch") or {}
        if not isinstance(touch, dict) or not all(
            isinstance(skus, list) and all(isinstance(sku, str) for sku in skus) for skus in touch.values()
        ):
            raise ValueError("touch must be {tenant: [InventoryID, …]}")
        existing = {} if body.get("reset") else self.catalogs
        for tenant, skus in touch.items():
            known = catalogs.get(tenant) or existing.get(tenant) or DEFAULT_SKUS
            if unknown := [sku for sku in skus if sku not in known]:
                raise ValueError(f"touch: {tenant} has no item {', '.join(unknown)}")

        if body.get("reset"):
            self.reset()
        if body.get("expire_sessions"):
            self.sessions.clear()
        if "wrong_passwords" in body:
            self.wrong_passwords = set(wrong)
        self.max_sessions = max_sessions
        if "requests_per_minute" in body:
            self.requests_per_minute = rate
        if "fail" in body:
            self.faults.scheduled = fail
        for tenant, catalog in catalogs.items():
            self.catalog(tenant)
            self.catalogs[tenant] = catalog
        stamp = now_ms()
        for tenant, skus in touch.items():
            catalog = self.catalog(tenant)
            for sku in skus:
                catalog[sku].last_modified = stamp

    def snapshot(self) -> dict:
        """What `/_state` shows: no passwords, no cookies."""
        self.purge()
        return {
            "logins": self.logins,
            "logouts": self.logouts,
            "open_sessions": {tenant: self.open_sessions(tenant) for tenant in self.tenants},
            "entity_requests": self.entity_requests,
            "last_filters": [list(triple) for triple in self.last_filters],
            "tenants": list(self.tenants),
        }
