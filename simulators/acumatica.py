"""A local fake of Acumatica's contract-based REST API, for the tests and `make run`.

One server stands for many Acumatica instances: the tenant (company) named at login picks the instance's data.
It answers as Acumatica documents: cookie sessions from `/entity/auth/login` (any name/password is accepted on
first use and then remembered), a per-tenant cap on signed-in API users (2, as a trial license) answered with 429,
10-minute idle expiry, `/entity/Default/{version}/StockItem` with the `LastModified gt datetimeoffset'…'` delta
filter, `$top`/`$skip` paging, `{"value": …}`-wrapped fields and `{"message","exceptionMessage","exceptionType"}`
error bodies. Tests steer it through `POST /_control` and read what was asked from `GET /_state` or `server.state`.
Standard library only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer

from simulators.base import FakeHandler, Rejected, Reply, json_reply, prune, run_main, serve

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "ACUMATICA_BASE_URL", 8768, "Acumatica"

ENDPOINT = "Default"
VERSIONS = ("20.200.001", "22.200.001", "23.200.001", "24.200.001")
DEFAULT_MAX_SESSIONS = 2  # a trial license allows 2 API users
SESSION_IDLE = 600  # seconds without a request before a session ends
AUTH_COOKIE = ".ASPXAUTH"
SESSION_COOKIE = "ASP.NET_SessionId"
LAST_FILTERS = 20
QUERY_OPTIONS = ("$filter", "$top", "$skip", "$select", "$expand", "$custom")  # only the first three act
DELTA_FILTER = re.compile(r"\s*LastModified\s+gt\s+datetimeoffset'([^']*)'\s*")
PX_EXCEPTION = "PX.Data.PXException"
QUERY_EXCEPTION = "PX.Api.ContractBased.InvalidQueryException"  # the simulator's name: Acumatica's is not on record
FAIL_STATUSES = (429, 500, 503)
ITEM_STATUSES = ("Active", "Inactive", "No Sales", "No Purchases", "No Request", "Marked for Deletion")
DEFAULT_CATALOG = (  # (Description, DefaultPrice, QtyOnHand) of SKU-001 … SKU-012
    ("Acetaminophen 500 mg tablets, 100 ct", 8.99, 24.0),
    ("Ibuprofen 200 mg tablets, 50 ct", 6.49, 30.0),
    ("Loratadine 10 mg tablets, 30 ct", 12.99, 12.0),
    ("Vitamin C 1000 mg tablets, 60 ct", 9.75, 18.0),
    ("Adhesive bandages, assorted, 30 ct", 4.25, 40.0),
    ("Hand sanitizer 8 oz", 3.5, 36.0),
    ("Digital thermometer", 14.99, 6.0),
    ("Saline nasal spray 1.5 oz", 5.79, 15.0),
    ("Cough syrup DM 4 oz", 7.89, 10.0),
    ("Antacid chewable tablets, 96 ct", 6.99, 20.0),
    ("Sunscreen SPF 50, 3 oz", 11.49, 8.0),
    ("Reading glasses +1.50", 15.0, 4.0),
)
UNAVAILABLE_HTML = (
    b"<html><body><h1>Service Unavailable</h1><p>HTTP Error 503. The service is unavailable.</p></body></html>"
)
CLEAR_COOKIE = "{}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; HttpOnly"


@dataclass
class Item:
    inventory_id: str
    id: str
    description: str
    price: float
    status: str
    qty: float | None
    last_modified: datetime


@dataclass
class Session:
    tenant: str
    last_used: float  # time.monotonic()


@dataclass
class Failure:
    status: int
    count: int
    after: int = 0  # entity calls answered normally first (a failure on a later page)


def error_reply(
    status: int, exception_message: str, exception_type: str = PX_EXCEPTION, message: str = "An error has occurred."
) -> Reply:
    """Acumatica's error body (stackTrace is empty: the simulator has none to show)."""
    body = {
        "message": message,
        "exceptionMessage": exception_message,
        "exceptionType": exception_type,
        "stackTrace": "",
    }
    return json_reply(status, body)


def not_logged_in() -> Reply:
    return json_reply(401, {"message": "You are not logged in."})


def now_ms() -> datetime:
    """Now, to the millisecond: what Acumatica shows is what `gt` compares, so a seen value never matches again."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_time(value) -> datetime:
    """An ISO 8601 time with an offset (a naive one is taken as UTC), to the millisecond; else ValueError."""
    if not isinstance(value, str):
        raise ValueError("a time must be an ISO 8601 string")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def item_id(tenant: str, inventory_id: str) -> str:
    """A stable record id: the same tenant and SKU keep one id across catalog replacements."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"acumatica-simulator/{tenant}/{inventory_id}"))


def default_catalog(tenant: str) -> dict[str, Item]:
    """SKU-001 … SKU-012, last modified 47 h to 3 h ago, 4 h apart."""
    start = now_ms() - timedelta(hours=47)
    catalog = {}
    for index, (description, price, qty) in enumerate(DEFAULT_CATALOG):
        sku = f"SKU-{index + 1:03d}"
        stamp = start + timedelta(hours=4 * index)
        catalog[sku] = Item(sku, item_id(tenant, sku), description, price, "Active", qty, stamp)
    return catalog


def wrapped(item: Item, row: int) -> dict:
    record = {
        "id": item.id,
        "rowNumber": row,
        "note": {"value": ""},
        "InventoryID": {"value": item.inventory_id},
        "Description": {"value": item.description},
        "DefaultPrice": {"value": item.price},
        "ItemStatus": {"value": item.status},
    }
    if item.qty is not None:
        record["QtyOnHand"] = {"value": item.qty}
    record["LastModified"] = {"value": wire_time(item.last_modified)}
    record["custom"] = {}
    return record


def control_item(tenant: str, raw) -> Item:
    """One entry of a `/_control` `items` list; ValueError when it is malformed."""
    if not isinstance(raw, dict):
        raise ValueError("each item must be an object")
    sku = raw.get("InventoryID")
    if not isinstance(sku, str) or not sku.strip():
        raise ValueError("each item needs an InventoryID string")
    description, price = raw.get("Description", ""), raw.get("DefaultPrice", 0.0)
    status, qty = raw.get("ItemStatus", "Active"), raw.get("QtyOnHand")
    if not isinstance(description, str):
        raise ValueError(f"{sku}: Description must be a string")
    if not is_number(price) or price < 0:
        raise ValueError(f"{sku}: DefaultPrice must be a number ≥ 0")
    if status not in ITEM_STATUSES:
        raise ValueError(f"{sku}: ItemStatus must be one of {', '.join(ITEM_STATUSES)}")
    if qty is not None and not is_number(qty):
        raise ValueError(f"{sku}: QtyOnHand must be a number or null")
    try:
        stamp = parse_time(raw["LastModified"]) if "LastModified" in raw else now_ms()
    except ValueError:
        raise ValueError(f"{sku}: LastModified must be an ISO 8601 time") from None
    return Item(
        sku, item_id(tenant, sku), description, float(price), status, None if qty is None else float(qty), stamp
    )


class AcumaticaState:
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    def __init__(self):
        self.lock = threading.Lock()
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
        self.fail: Failure | None = None
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
        fail = body.get("fail")
        if fail is not None:
            if not isinstance(fail, dict) or fail.get("status") not in FAIL_STATUSES:
                raise ValueError("fail.status must be one of 429, 500, 503")
            count = fail.get("count", 1)
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError("fail.count must be a positive integer")
            after = fail.get("after", 0)
            if isinstance(after, bool) or not isinstance(after, int) or after < 0:
                raise ValueError("fail.after must be an integer ≥ 0")
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
        default_skus = {f"SKU-{index + 1:03d}" for index in range(len(DEFAULT_CATALOG))}
        for tenant, skus in touch.items():
            known = catalogs.get(tenant) or existing.get(tenant) or default_skus
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
            self.fail = fail and Failure(fail["status"], fail.get("count", 1), fail.get("after", 0))
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


class AcumaticaHandler(FakeHandler):
    server_version = "AcumaticaSimulator/1.0"
    state: AcumaticaState

    def do_PUT(self):
        self._handle()

    def answer(self, path: str, raw: bytes) -> Reply:
        route = (self.command, path)
        if route == ("POST", "/entity/auth/login"):
            return self._login(raw)
        if route == ("POST", "/entity/auth/logout"):
            return self._logout()
        if self.command in ("GET", "PUT") and (match := re.fullmatch(r"/entity/([^/]+)/([^/]+)/([^/]+)/?", path)):
            with self.state.lock:
                return self._entity(raw, *match.groups())
        return error_reply(404, f"No HTTP resource was found that matches the request URI '{path}'.")

    def _json_body(self, raw: bytes) -> dict:
        media_type = self._media_type()
        if media_type not in ("application/json", "text/json"):
            message = f"The request entity's media type '{media_type or 'none'}' is not supported for this resource."
            raise Rejected(json_reply(415, {"message": message}))
        try:
            body = json.loads(raw)
        except ValueError:
            raise Rejected(error_reply(400, "The request body is not valid JSON.")) from None
        if not isinstance(body, dict):
            raise Rejected(error_reply(400, "The request body must be a JSON object."))
        return body

    def _cookie(self, name: str) -> str:
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value.strip()
        return ""

    # --- Session ---

    def _login(self, raw: bytes) -> Reply:
        body = self._json_body(raw)
        for field in ("name", "password", "tenant"):
            if not isinstance(body.get(field), str) or not body[field]:
                return error_reply(400, f"The '{field}' field is required.")
        for field in ("branch", "locale"):
            if body.get(field) is not None and not isinstance(body[field], str):
                return error_reply(400, f"The '{field}' field must be a string.")
        tenant = body["tenant"]
        with self.state.lock:
            state = self.state
            if not state.password_ok(tenant, body["name"], body["password"]):
                message = "Invalid credentials. Please try again."
                return error_reply(401, message, message=message)
            state.purge()
            if state.open_sessions(tenant) >= state.max_sessions:
                detail = f"The license allows {state.max_sessions} signed-in API users for this tenant; sign one out."
                return error_reply(429, detail, message="API Login Limit")
            token = secrets.token_hex(64).upper()
            state.catalog(tenant)
            state.sessions[token] = Session(tenant, time.monotonic())
            state.logins += 1
        headers = [
            ("Set-Cookie", f"{AUTH_COOKIE}={token}; path=/; HttpOnly"),
            ("Set-Cookie", f"{SESSION_COOKIE}={secrets.token_hex(12)}; path=/; HttpOnly"),
        ]
        return Reply(204, b"", "text/plain", headers)

    def _logout(self) -> Reply:
        """Always 204, as Acumatica answers; only a live session's cookie frees a slot."""
        with self.state.lock:
            token = self._cookie(AUTH_COOKIE)
            if self.state.session(token):
                del self.state.sessions[token]
                self.state.logouts += 1
        headers = [("Set-Cookie", CLEAR_COOKIE.format(name)) for name in (AUTH_COOKIE, SESSION_COOKIE)]
        return Reply(204, b"", "text/plain", headers)

    # --- Entities (called with the state lock held) ---

    def _entity(self, raw: bytes, endpoint: str, version: str, entity: str) -> Reply:
        state = self.state
        state.entity_requests += 1
        session = state.session(self._cookie(AUTH_COOKIE))
        if session is None:
            return not_logged_in()
        session.last_used = time.monotonic()
        if self.command == "GET":
            state.last_filters.append([self.params.get(option) for option in ("$filter", "$top", "$skip")])
        if state.requests_per_minute is not None:
            now = time.monotonic()
            window = prune(state.hits.setdefault(session.tenant, deque()), now)
            if len(window) >= state.requests_per_minute:  # not counted: the client recovers as the minute rolls on
                detail = f"The license allows {state.requests_per_minute} API requests per minute."
                return error_reply(429, detail, message="API request limit exceeded")  # no Retry-After, as Acumatica
            window.append(now)
        if state.fail and state.fail.after:
            state.fail.after -= 1
        elif state.fail:
            return self._injected_failure()
        if endpoint != ENDPOINT or version not in VERSIONS:
            return error_reply(404, f"The endpoint {endpoint}/{version} is not found.")
        if entity != "StockItem":
            return error_reply(404, f"The entity {entity} is not found in the endpoint {endpoint}/{version}.")
        catalog = state.catalog(session.tenant)
        return self._list(catalog) if self.command == "GET" else self._put(session.tenant, catalog, raw)

    def _injected_failure(self) -> Reply:
        fail = self.state.fail
        fail.count -= 1
        if fail.count <= 0:
            self.state.fail = None
        if fail.status == 429:
            return error_reply(
                429, "The license's API request limit was exceeded.", message="API request limit exceeded"
            )
        if fail.status == 503:  # IIS answers this one itself, in HTML
            return Reply(503, UNAVAILABLE_HTML, "text/html; charset=us-ascii")
        return error_reply(500, "Simulated failure.")

    def _list(self, catalog: dict[str, Item]) -> Reply:
        for option in self.params:
            if option.startswith("$") and option not in QUERY_OPTIONS:
                return error_reply(400, f"The query option {option} is not supported.", QUERY_EXCEPTION)
        paging = {}
        for option in ("$top", "$skip"):
            value = self.params.get(option)
            if value is not None and not re.fullmatch(r"\d+", value.strip()):
                return error_reply(400, f"The value of {option} must be an integer ≥ 0.", QUERY_EXCEPTION)
            paging[option] = None if value is None else int(value)
        items = sorted(catalog.values(), key=lambda item: (item.last_modified, item.inventory_id))
        text = self.params.get("$filter", "")
        if text.strip():
            match = DELTA_FILTER.fullmatch(text)
            try:
                since = datetime.fromisoformat(match.group(1)) if match else None
            except ValueError:
                since = None
            if since is None or since.tzinfo is None:
                detail = f"Filter is not supported: {text}. Use LastModified gt datetimeoffset'<ISO 8601 with offset>'."
                return error_reply(400, detail, QUERY_EXCEPTION)
            items = [item for item in items if item.last_modified > since]
        skip, top = paging["$skip"] or 0, paging["$top"]
        page = items[skip:] if top is None else items[skip : skip + top]
        return json_reply(200, [wrapped(item, row) for row, item in enumerate(page, start=1)])

    def _put(self, tenant: str, catalog: dict[str, Item], raw: bytes) -> Reply:
        """Creates or updates one item by InventoryID; field errors come back as 422 with the record echoed."""
        body = self._json_body(raw)
        fields = {}
        for name in ("InventoryID", "Description", "DefaultPrice", "ItemStatus", "QtyOnHand"):
            if name in body:
                if not isinstance(body[name], dict) or "value" not in body[name]:
                    return error_reply(400, f'{name} must be wrapped as {{"value": …}}.')
                fields[name] = body[name]["value"]
        checks = (
            ("InventoryID", lambda v: isinstance(v, str) and bool(v.strip()), "'Inventory ID' cannot be empty."),
            ("Description", lambda v: isinstance(v, str), "'Description' must be text."),
            ("DefaultPrice", lambda v: is_number(v) and v >= 0, "'Default Price' must be a number ≥ 0."),
            ("ItemStatus", lambda v: v in ITEM_STATUSES, "'Item Status' is not a valid value."),
            ("QtyOnHand", lambda v: v is None or is_number(v), "'Qty. On Hand' must be a number."),
        )
        errors = {}
        for name, ok, message in checks:
            if (name in fields or name == "InventoryID") and not ok(fields.get(name)):
                errors[name] = message
        if errors:
            echo = {**body, **{name: {**body.get(name, {}), "error": message} for name, message in errors.items()}}
            return json_reply(422, echo)
        sku = fields["InventoryID"]
        item = catalog.get(sku) or Item(sku, item_id(tenant, sku), "", 0.0, "Active", None, now_ms())
        item.description = fields.get("Description", item.description)
        item.price = float(fields.get("DefaultPrice", item.price))
        item.status = fields.get("ItemStatus", item.status)
        if "QtyOnHand" in fields:
            item.qty = None if fields["QtyOnHand"] is None else float(fields["QtyOnHand"])
        item.last_modified = now_ms()
        catalog[sku] = item
        return json_reply(200, wrapped(item, 1))


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve(AcumaticaHandler, AcumaticaState(), host, port)


def main() -> None:
    run_main("Acumatica", "Acumatica contract-based REST API simulator", PORT, make_server)


if __name__ == "__main__":
    main()
