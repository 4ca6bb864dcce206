"""The Acumatica fake's routes: sign-in and sign-out (cookie sessions), and `/entity/Default/{version}/StockItem` read
with the delta filter and paging, or written one item at a time."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import deque
from datetime import datetime

from simulators.acumatica.catalog import ITEM_STATUSES, Item, is_number, item_id, now_ms, wrapped
from simulators.acumatica.state import AcumaticaState, Session
from simulators.base import FakeHandler, Rejected, Reply, json_reply, prune
from simulators.faults import Failure

ENDPOINT = "Default"
VERSIONS = ("20.200.001", "22.200.001", "23.200.001", "24.200.001")
AUTH_COOKIE = ".ASPXAUTH"
SESSION_COOKIE = "ASP.NET_SessionId"
CLEAR_COOKIE = "{}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/; HttpOnly"
QUERY_OPTIONS = ("$filter", "$top", "$skip", "$select", "$expand", "$custom")  # only the first three act
DELTA_FILTER = re.compile(r"\s*LastModified\s+gt\s+datetimeoffset'([^']*)'\s*")
PX_EXCEPTION = "PX.Data.PXException"
QUERY_EXCEPTION = "PX.Api.ContractBased.InvalidQueryException"  # the simulator's name: Acumatica's is not on record
UNAVAILABLE_HTML = (
    b"<html><body><h1>Service Unavailable</h1><p>HTTP Error 503. The service is unavailable.</p></body></html>"
)


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


def failure_reply(fail: Failure) -> Reply:
    """What Acumatica answers for a failure a test scheduled."""
    if fail.status == 429:
        return error_reply(429, "The license's API request limit was exceeded.", message="API request limit exceeded")
    if fail.status == 503:  # IIS answers this one itself, in HTML
        return Reply(503, UNAVAILABLE_HTML, "text/html; charset=us-ascii")
    return error_reply(500, "Simulated failure.")


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
            return json_reply(401, {"message": "You are not logged in."})
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
        if fail := state.faults.due():
            return failure_reply(fail)
        if endpoint != ENDPOINT or version not in VERSIONS:
            return error_reply(404, f"The endpoint {endpoint}/{version} is not found.")
        if entity != "StockItem":
            return error_reply(404, f"The entity {entity} is not found in the endpoint {endpoint}/{version}.")
        catalog = state.catalog(session.tenant)
        return self._list(catalog) if self.command == "GET" else self._put(session.tenant, catalog, raw)

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
