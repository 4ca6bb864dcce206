"""A local fake of Xero's identity server (OAuth 2), its Connections API and the Accounting API, for the tests and
`make run`.

It answers as Xero documents and as real captures show: auto-approved consent that connects one organisation, a
Basic-auth token endpoint whose refresh tokens rotate with a 30-minute grace for the one just replaced, JWT-shaped
30-minute access tokens, `xero-tenant-id` on every Accounting call, Xero's problem bodies (401 `TokenExpired`,
403 `AuthorizationUnsuccessful`), `ValidationException` bodies, `Idempotency-Key` replays and the per-tenant
(60/min, 5,000/day, 5 concurrent) and per-app (10,000/min) rate limits with their headers.
Tests steer it through `POST /_control` and read what was posted from `GET /_state` or `server.state`.
Standard library only.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from simulators.base import (
    FakeHandler,
    Rejected,
    Reply,
    basic_auth_ok,
    json_reply,
    prune,
    run_main,
    serve,
    text_reply,
    with_query,
)

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "XERO_BASE_URL", 8767, "Xero"

DEFAULT_CLIENT_ID = "qiiub-dev-client"
DEFAULT_CLIENT_SECRET = "qiiub-dev-secret"
PROVIDER_NAME = "QIIUB"  # Xero puts the app's name in every Accounting response
REQUIRED_SCOPES = ("offline_access", "accounting.transactions")
SETTINGS_READ = frozenset({"accounting.settings", "accounting.settings.read"})  # /Organisation, /Accounts
TRANSACTIONS_READ = frozenset({"accounting.transactions", "accounting.transactions.read"})
TRANSACTIONS = frozenset({"accounting.transactions"})
ACCESS_TTL = 1800
ID_TOKEN_TTL = 300
REFRESH_TTL = 60 * 86400  # an unused refresh token lapses after 60 days
REFRESH_GRACE = 1800  # a replaced refresh token can still be retried this long
CODE_TTL = 600
MIN_LIMIT = 60  # calls per rolling minute per tenant
DAY_LIMIT = 5000  # calls per UTC day per tenant
CONCURRENT_LIMIT = 5  # calls in progress per tenant
APP_MIN_LIMIT = 10000  # calls per rolling minute across all tenants
RATE_PROBLEMS = ("minute", "day", "concurrent", "appminute")
IDEMPOTENCY_KEY_MAX = 128
LINE_AMOUNT_TYPES = ("NoTax", "Exclusive", "Inclusive")
CREATE_STATUSES = ("DRAFT", "POSTED")
DEFAULT_ACCOUNTS = {
    "090": ("Cash on hand", "BANK"),
    "091": ("Card clearing", "CURRENT"),
    "092": ("Check clearing", "CURRENT"),
    "093": ("Charge accounts receivable", "CURRENT"),
    "200": ("Sales", "REVENUE"),
    "820": ("IVU payable - state", "CURRLIAB"),
    "821": ("IVU payable - municipal", "CURRLIAB"),
}
ACCOUNT_CLASSES = {"BANK": "ASSET", "CURRENT": "ASSET", "REVENUE": "REVENUE", "CURRLIAB": "LIABILITY"}
ACCOUNT_IDS = uuid.UUID("6c0a4b9e-7f3d-4b8e-9a51-2f7d0c3e1a77")  # namespace: an account's id is stable per tenant


@dataclass
class Grant:
    """One authorization: its scope, the organisations it reaches and its current refresh token."""

    scope: str
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    session_id: str = field(default_factory=lambda: secrets.token_hex(16))
    auth_event_id: str = ""
    connections: list[dict] = field(default_factory=list)
    refresh: str = ""
    revoked: bool = False

    def scopes(self) -> set[str]:
        return set(self.scope.split())

    def tenant_ids(self) -> set[str]:
        return {connection["tenantId"] for connection in self.connections}


@dataclass
class RefreshToken:
    grant: Grant
    issued_at: float
    superseded_at: float | None = None  # when a newer refresh token replaced it; the grace runs from here


@dataclass
class Access:
    grant: Grant
    expires_at: float


@dataclass
class Code:
    redirect_uri: str
    scope: str
    tenant_id: str
    auth_event_id: str
    grant: Grant | None  # set when the consent joins an existing grant
    expires_at: float


@dataclass
class Failure:
    status: int
    count: int
    retry_after: float | None
    problem: str


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Reply:
    """The RFC 7807-style body Xero's API gateway answers with (401, 403, 404, 429, 5xx)."""
    body = {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4()),
            "Extensions": {}}
    return json_reply(status, body, headers)


def post_data_invalid(message: str) -> Rejected:
    return Rejected(json_reply(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}))


def validation_reply(elements: list[dict]) -> Reply:
    body = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": elements}
    return json_reply(400, body)


def ms_date(moment: datetime) -> str:
    """Xero's MS-JSON `DateTimeUTC`: /Date(1552595972952)/."""
    return f"/Date({int(moment.timestamp() * 1000)})/"


def ms_date_offset(moment: datetime) -> str:
    """Xero's MS-JSON date of a record: /Date(1552521600000+0000)/."""
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def connection_time() -> str:
    """The Connections API's timestamps: UTC, no zone, seven fractional digits."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(claims: dict) -> str:
    """Shaped like Xero's RS256 tokens so clients that peek at the claims work; the signature is random bytes."""
    header = {"alg": "RS256", "kid": "qiiub-simulator", "typ": "JWT"}
    return ".".join((b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                     b64url(secrets.token_bytes(64))))


def amount_ok(value) -> bool:
    """A JSON number (not a string or bool), non-zero, in whole cents."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value != 0 and Decimal(repr(value)).as_tuple().exponent >= -2


def cents(value: int | float) -> int:
    return int(Decimal(repr(value)) * 100)


def money(amount_cents: int) -> str:
    return f"{Decimal(amount_cents) / 100:.2f}"


def journal_date(value) -> date | None:
    """`YYYY-MM-DD`, or the same with a midnight time as Xero's own SDKs send it."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:T00:00:00(?:\.0+)?)?", value)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def seconds_to_utc_midnight() -> int:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return max(1, math.ceil((midnight - now).total_seconds()))


def is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


class XeroState:
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET):
        self.lock = threading.Lock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.reset()

    def reset(self) -> None:
        self.tenants: dict[str, str] = {}  # tenantId → tenantName, in order of first consent
        self.tenant_seq = 0
        self.accounts: dict[str, dict[str, str]] = {}  # tenantId → {code: name}, where it differs from the default
        self.next_tenant: dict[str, str] | None = None
        self.same_grant_next_consent = False
        self.deny_next_consent = False
        self.codes: dict[str, Code] = {}
        self.grant_list: list[Grant] = []
        self.refresh_tokens: dict[str, RefreshToken] = {}  # every refresh token issued, current or replaced
        self.access_tokens: dict[str, Access] = {}
        self.grants = {"authorization_code": 0, "refresh_token": 0}
        self.revocations = 0
        self.fail: Failure | None = None
        self.delay_s = 0.0
        self.minute_hits: dict[str, deque[float]] = {}  # tenantId → times of admitted calls in the last minute
        self.app_hits: deque[float] = deque()
        self.day_used: dict[str, tuple[str, int]] = {}  # tenantId → (UTC day, calls admitted that day)
        self.in_flight: dict[str, int] = {}
        self.answers: dict[tuple[str, str], Reply] = {}  # (tenantId, Idempotency-Key) → the original answer
        self.journals: dict[str, tuple[str, dict]] = {}  # ManualJournalID → (tenantId, the journal as answered)
        self.manual_journals: list[dict] = []
        self.replays = 0
        self.accounting_requests = 0

    # --- tenants and grants ---

    def chart(self, tenant: str) -> dict[str, tuple[str, str]]:
        """Code → (name, type); a replaced chart keeps the default types of the codes it shares."""
        if tenant not in self.accounts:
            return DEFAULT_ACCOUNTS
        return {code: (name, DEFAULT_ACCOUNTS.get(code, ("", "CURRENT"))[1])
                for code, name in self.accounts[tenant].items()}

    def new_tenant(self) -> str:
        wanted, self.next_tenant = self.next_tenant, None
        if wanted:
            tenant = wanted["tenantId"]
            name = wanted.get("tenantName") or self.tenants.get(tenant)
        else:
            tenant, name = str(uuid.uuid4()), None
        if not name:
            self.tenant_seq += 1
            name = f"Demo Organisation {self.tenant_seq}"
        self.tenants[tenant] = name
        return tenant

    def latest_grant(self) -> Grant | None:
        live = [grant for grant in self.grant_list if not grant.revoked]
        return live[-1] if live else None

    def connect(self, grant: Grant, tenant: str, auth_event_id: str) -> None:
        stamp = connection_time()
        for connection in grant.connections:
            if connection["tenantId"] == tenant:  # consenting again to the same organisation: no duplicate
                connection.update(authEventId=auth_event_id, tenantName=self.tenants[tenant], updatedDateUtc=stamp)
                return
        grant.connections.append({
            "id": str(uuid.uuid4()),
            "authEventId": auth_event_id,
            "tenantId": tenant,
            "tenantType": "ORGANISATION",
            "tenantName": self.tenants[tenant],
            "createdDateUtc": stamp,
            "updatedDateUtc": stamp,
        })

    def revoke(self, grant: Grant) -> None:
        """Revoking a grant disconnects every organisation it reached, as Xero does."""
        grant.revoked = True
        grant.connections.clear()

    def issue(self, grant: Grant) -> dict:
        """Rotates the grant's refresh token (the replaced one enters its grace period) and adds an access token."""
        now = time.time()
        previous = self.refresh_tokens.get(grant.refresh)
        if previous and previous.superseded_at is None:
            previous.superseded_at = now
        grant.refresh = secrets.token_urlsafe(48)
        self.refresh_tokens[grant.refresh] = RefreshToken(grant, now)
        issued = int(now)
        access = fake_jwt({
            "nbf": issued,
            "exp": issued + ACCESS_TTL,
            "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources",
            "client_id": self.client_id,
            "sub": grant.user_id.replace("-", ""),
            "auth_time": issued,
            "xero_userid": grant.user_id,
            "global_session_id": grant.session_id,
            "sid": grant.session_id,
            "jti": secrets.token_hex(16),
            "authentication_event_id": grant.auth_event_id,
            "scope": grant.scope.split(),
        })
        self.access_tokens[access] = Access(grant, now + ACCESS_TTL)
        tokens = {
            "access_token": access,
            "expires_in": ACCESS_TTL,
            "token_type": "Bearer",
            "refresh_token": grant.refresh,
            "scope": grant.scope,
        }
        if "openid" in grant.scopes():  # Xero returns an id_token only to an OpenID Connect sign-in
            id_token = fake_jwt({
                "nbf": issued,
                "exp": issued + ID_TOKEN_TTL,
                "iss": "https://identity.xero.com",
                "aud": self.client_id,
                "iat": issued,
                "sub": grant.user_id.replace("-", ""),
                "auth_time": issued,
                "xero_userid": grant.user_id,
                "global_session_id": grant.session_id,
                "sid": grant.session_id,
                "preferred_username": "demo@qiiub.test",
                "email": "demo@qiiub.test",
                "given_name": "Demo",
                "family_name": "User",
            })
            tokens = {"id_token": id_token, **tokens}
        return tokens

    def refresh_usable(self, token: str) -> Grant | None:
        record = self.refresh_tokens.get(token)
        if record is None or record.grant.revoked:
            return None
        now = time.time()
        if record.issued_at + REFRESH_TTL <= now:
            return None
        if record.superseded_at is not None and record.superseded_at + REFRESH_GRACE <= now:
            return None
        return record.grant

    # --- rate limits ---

    def day_count(self, tenant: str) -> int:
        day, count = self.day_used.get(tenant, ("", 0))
        return count if day == datetime.now(UTC).date().isoformat() else 0

    def limit_headers(self, tenant: str) -> dict[str, str]:
        now = time.monotonic()
        minute = prune(self.minute_hits.setdefault(tenant, deque()), now)
        app = prune(self.app_hits, now)
        return {
            "X-MinLimit-Remaining": str(max(0, MIN_LIMIT - len(minute))),
            "X-DayLimit-Remaining": str(max(0, DAY_LIMIT - self.day_count(tenant))),
            "X-AppMinLimit-Remaining": str(max(0, APP_MIN_LIMIT - len(app))),
        }

    def admit(self, tenant: str) -> tuple[str, int] | None:
        """Counts an Accounting call against the limits, or returns (problem, Retry-After) without counting it."""
        now = time.monotonic()
        minute = prune(self.minute_hits.setdefault(tenant, deque()), now)
        app = prune(self.app_hits, now)
        if self.day_count(tenant) >= DAY_LIMIT:
            return "day", seconds_to_utc_midnight()
        if len(minute) >= MIN_LIMIT:
            return "minute", max(1, math.ceil(minute[0] + 60 - now))
        if len(app) >= APP_MIN_LIMIT:
            return "appminute", max(1, math.ceil(app[0] + 60 - now))
        if self.in_flight.get(tenant, 0) >= CONCURRENT_LIMIT:
            return "concurrent", 1
        minute.append(now)
        app.append(now)
        self.day_used[tenant] = (datetime.now(UTC).date().isoformat(), self.day_count(tenant) + 1)
        self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
        return None

    def release(self, tenant: str) -> None:
        self.in_flight[tenant] = max(0, self.in_flight.get(tenant, 0) - 1)

    # --- control and state ---

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        known = {"reset", "expire_access_tokens", "revoke_all", "fail", "accounts", "next_tenant",
                 "same_grant_next_consent", "deny_next_consent", "day_used", "expire_refresh_grace", "delay_s"}
        if unknown := sorted(set(body) - known):
            raise ValueError(f"unknown control keys: {', '.join(unknown)}")
        fail = body.get("fail")
        if fail is not None:
            if not isinstance(fail, dict) or fail.get("status") not in (429, 500, 503):
                raise ValueError("fail.status must be one of 429, 500, 503")
            count, retry_after = fail.get("count", 1), fail.get("retry_after")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError("fail.count must be a positive integer")
            if retry_after is not None and (not is_number(retry_after) or retry_after < 0):
                raise ValueError("fail.retry_after must be a number of seconds or null")
            if fail.get("problem", "minute") not in RATE_PROBLEMS:
                raise ValueError(f"fail.problem must be one of {', '.join(RATE_PROBLEMS)}")
        accounts = body.get("accounts") or {}
        if not isinstance(accounts, dict) or not all(isinstance(chart, dict) for chart in accounts.values()):
            raise ValueError("accounts must be {tenantId: {code: name}}")
        next_tenant = body.get("next_tenant")
        if next_tenant is not None and (
            not isinstance(next_tenant, dict)
            or not isinstance(next_tenant.get("tenantId"), str)
            or not next_tenant["tenantId"]
            or not isinstance(next_tenant.get("tenantName", ""), str)
        ):
            raise ValueError("next_tenant must be {\"tenantId\": str, \"tenantName\": str} or null")
        day_used = body.get("day_used") or {}
        if not isinstance(day_used, dict) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in day_used.values()
        ):
            raise ValueError("day_used must be {tenantId: calls used today}")
        delay = body.get("delay_s", self.delay_s)
        if not is_number(delay) or not 0 <= delay <= 30:
            raise ValueError("delay_s must be a number of seconds between 0 and 30")

        if body.get("reset"):
            self.reset()
        now = time.time()
        if body.get("expire_access_tokens"):
            for access in self.access_tokens.values():
                access.expires_at = min(access.expires_at, now)
        if body.get("revoke_all"):
            for grant in self.grant_list:
                self.revoke(grant)
        if body.get("expire_refresh_grace"):
            for record in self.refresh_tokens.values():
                if record.superseded_at is not None:
                    record.superseded_at = now - REFRESH_GRACE
        if "fail" in body:
            self.fail = fail and Failure(fail["status"], fail.get("count", 1), fail.get("retry_after"),
                                         fail.get("problem", "minute"))
        for tenant, chart in accounts.items():
            self.accounts[str(tenant)] = {str(code): str(name) for code, name in chart.items()}
        if "next_tenant" in body:
            self.next_tenant = dict(next_tenant) if next_tenant else None
        if "same_grant_next_consent" in body:
            self.same_grant_next_consent = bool(body["same_grant_next_consent"])
        if "deny_next_consent" in body:
            self.deny_next_consent = bool(body["deny_next_consent"])
        today = datetime.now(UTC).date().isoformat()
        for tenant, used in day_used.items():
            self.day_used[str(tenant)] = (today, used)
        self.delay_s = float(delay)

    def snapshot(self) -> dict:
        """What `/_state` shows: no tokens."""
        return {
            "grants": dict(self.grants),
            "manual_journals": list(self.manual_journals),
            "replays": self.replays,
            "accounting_requests": self.accounting_requests,
            "tenants": [{"tenantId": tenant, "tenantName": name} for tenant, name in self.tenants.items()],
            "connections": sum(len(grant.connections) for grant in self.grant_list if not grant.revoked),
            "revocations": self.revocations,
        }


class XeroHandler(FakeHandler):
    server_version = "XeroSimulator/1.0"
    request_id_header = "Xero-Correlation-Id"
    state: XeroState

    def do_PUT(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def answer(self, path: str, raw: bytes) -> Reply:
        route, lower = (self.command, path), path.lower()
        if route == ("GET", "/identity/connect/authorize"):
            return self._consent()
        if route == ("POST", "/connect/token"):
            return self._token(raw)
        if route == ("POST", "/connect/revocation"):
            return self._revoke(raw)
        if self.command == "GET" and lower == "/connections":  # the spec says /Connections; clients use both
            return self._connections()
        if self.command == "DELETE" and (match := re.fullmatch(r"/connections/([^/]+)", lower)):
            return self._disconnect(match.group(1))
        if lower.startswith("/api.xro/2.0/"):
            return self._accounting(raw, path[len("/api.xro/2.0/"):])
        return problem(404, "Not Found", f"No such resource: {path}")

    # --- Identity (OAuth 2) ---

    def _consent(self) -> Reply:
        """The consent screen, approved at once: connects one organisation and redirects back with a code (no
        tenant id: the app asks `/connections`), or with access_denied when told to."""
        query = self.params
        scopes = query.get("scope", "").split()
        redirect = urlsplit(query.get("redirect_uri", ""))
        checks = (
            (query.get("client_id") == self.state.client_id, "client_id is not a registered app"),
            (query.get("response_type") == "code", "response_type must be 'code'"),
            (all(s in scopes for s in REQUIRED_SCOPES), f"scope must include {' and '.join(REQUIRED_SCOPES)}"),
            (redirect.scheme in ("http", "https") and bool(redirect.netloc), "redirect_uri must be an absolute URL"),
            (bool(query.get("state")), "state is required"),
        )
        for ok, why in checks:
            if not ok:
                return text_reply(400, why)
        state = self.state
        with state.lock:
            if state.deny_next_consent:
                state.deny_next_consent = False
                params = {"error": "access_denied", "state": query["state"]}
            else:
                joining = state.latest_grant() if state.same_grant_next_consent else None
                state.same_grant_next_consent = False
                code = secrets.token_urlsafe(32)
                state.codes[code] = Code(query["redirect_uri"], " ".join(scopes), state.new_tenant(),
                                         str(uuid.uuid4()), joining, time.time() + CODE_TTL)
                params = {"code": code, "scope": " ".join(scopes), "state": query["state"]}
        return Reply(302, b"", "text/plain", {"Location": with_query(query["redirect_uri"], params)})

    def _client_ok(self) -> bool:
        return basic_auth_ok(self.headers.get("Authorization", ""), self.state.client_id, self.state.client_secret)

    def _form(self, raw: bytes) -> dict[str, str]:
        if self._media_type() != "application/x-www-form-urlencoded":
            raise Rejected(json_reply(400, {"error": "invalid_request"}))
        return {key: values[-1] for key, values in parse_qs(raw.decode(errors="replace")).items()}

    def _token(self, raw: bytes) -> Reply:
        if not self._client_ok():
            return json_reply(401, {"error": "invalid_client"})
        form = self._form(raw)
        grant_type = form.get("grant_type", "")
        invalid = json_reply(400, {"error": "invalid_grant"})
        state = self.state
        with state.lock:
            if grant_type == "authorization_code":
                code = state.codes.pop(form.get("code", ""), None)  # single use, even when the exchange fails
                if code is None or code.expires_at <= time.time() or form.get("redirect_uri") != code.redirect_uri:
                    return invalid
                grant = code.grant if code.grant and not code.grant.revoked else None
                if grant is None:
                    grant = Grant(code.scope)
                    state.grant_list.append(grant)
                grant.scope = code.scope
                grant.auth_event_id = code.auth_event_id
                state.connect(grant, code.tenant_id, code.auth_event_id)
            elif grant_type == "refresh_token":
                grant = state.refresh_usable(form.get("refresh_token", ""))
                if grant is None:
                    return invalid
            else:
                return json_reply(400, {"error": "unsupported_grant_type"})
            state.grants[grant_type] += 1
            return json_reply(200, state.issue(grant), {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _revoke(self, raw: bytes) -> Reply:
        """Xero revokes by refresh token; that ends the grant and removes its connections."""
        if not self._client_ok():
            return json_reply(401, {"error": "invalid_client"})
        token = self._form(raw).get("token", "")
        if not token:
            return json_reply(400, {"error": "invalid_request"})
        with self.state.lock:
            if token in self.state.access_tokens:
                return json_reply(400, {"error": "unsupported_token_type"})  # Xero revokes refresh tokens only
            record = self.state.refresh_tokens.get(token)
            if record:
                self.state.revoke(record.grant)
                self.state.revocations += 1
        return Reply(200, b"", "text/plain")  # an unknown token is not an error (RFC 7009)

    # --- Connections ---

    def _bearer(self) -> Access:
        """The caller's live access token, or a 401 in Xero's shape (never echoing the token)."""
        header = self.headers.get("Authorization", "")
        access = self.state.access_tokens.get(header[7:] if header[:7].lower() == "bearer " else "")
        if access is None or access.grant.revoked:
            raise Rejected(problem(401, "Unauthorized", "AuthenticationUnsuccessful"))
        if access.expires_at <= time.time():
            expired = datetime.fromtimestamp(access.expires_at, UTC).strftime("%m/%d/%Y %H:%M:%S")
            raise Rejected(problem(401, "Unauthorized", f"TokenExpired: token expired at {expired}"))
        return access

    def _connections(self) -> Reply:
        with self.state.lock:
            access = self._bearer()
            connections = [dict(c) for c in access.grant.connections]
        if auth_event := self.params.get("authEventId"):
            connections = [c for c in connections if c["authEventId"].lower() == auth_event.lower()]
        return json_reply(200, connections)

    def _disconnect(self, connection_id: str) -> Reply:
        with self.state.lock:
            connections = self._bearer().grant.connections
            for index, connection in enumerate(connections):
                if connection["id"].lower() == connection_id:
                    del connections[index]
                    return Reply(204, b"", "text/plain")
        return problem(404, "Not Found", "Connection not found")

    # --- Accounting ---

    def _accounting(self, raw: bytes, resource: str) -> Reply:
        state = self.state
        tenant = None
        try:
            with state.lock:
                state.accounting_requests += 1
                access = self._bearer()
                tenant = self._tenant(access)
                handler = self._route(access, resource)
                if limited := state.admit(tenant):
                    problem_name, retry_after = limited
                    headers = {"Retry-After": str(retry_after), "X-Rate-Limit-Problem": problem_name}
                    raise Rejected(problem(429, "Too Many Requests", f"Rate limit exceeded: {problem_name}", headers))
        except Rejected as rejected:
            if tenant is None:
                return rejected.reply
            with state.lock:
                return self._with_limits(rejected.reply, tenant)
        try:
            if state.delay_s:
                time.sleep(state.delay_s)  # lets tests hold calls in progress (the concurrency limit)
            with state.lock:
                reply = self._admitted(raw, tenant, handler)
        finally:
            with state.lock:
                state.release(tenant)
        with state.lock:
            return self._with_limits(reply, tenant)

    def _with_limits(self, reply: Reply, tenant: str) -> Reply:
        return reply._replace(headers={**self.state.limit_headers(tenant), **(reply.headers or {})})

    def _tenant(self, access: Access) -> str:
        tenant = self.headers.get("xero-tenant-id", "").strip()
        if not tenant:  # what Xero answers without the header
            raise Rejected(problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        if tenant.lower() not in {t.lower() for t in access.grant.tenant_ids()}:
            raise Rejected(problem(403, "Forbidden", "AuthorizationUnsuccessful"))
        return next(t for t in access.grant.tenant_ids() if t.lower() == tenant.lower())

    def _route(self, access: Access, resource: str) -> Callable[[str, bytes], Reply]:
        parts = resource.strip("/").split("/")
        entity, item = parts[0].lower(), (parts[1] if len(parts) == 2 else None)
        if len(parts) > 2:
            entity = ""
        match (self.command, entity, item):
            case ("GET", "organisation", None):
                scopes, handler = SETTINGS_READ, self._organisation
            case ("GET", "accounts", None):
                scopes, handler = SETTINGS_READ, self._accounts
            case ("GET", "manualjournals", _):
                scopes, handler = TRANSACTIONS_READ, lambda tenant, raw: self._get_journals(tenant, item)
            case ("PUT" | "POST", "manualjournals", None):
                scopes, handler = TRANSACTIONS, self._create_journals
            case _:
                raise Rejected(problem(404, "Not Found", "The resource you're looking for cannot be found"))
        if not scopes & access.grant.scopes():  # the token's scope does not cover this endpoint
            raise Rejected(problem(401, "Unauthorized", "AuthorizationUnsuccessful"))
        return handler

    def _admitted(self, raw: bytes, tenant: str, handler: Callable[[str, bytes], Reply]) -> Reply:
        if self.state.fail:
            return self._injected_failure()
        if "application/json" not in self.headers.get("Accept", "").lower():
            return text_reply(406, "This simulator answers JSON only: send Accept: application/json")
        try:
            return handler(tenant, raw)
        except Rejected as rejected:
            return rejected.reply

    def _injected_failure(self) -> Reply:
        fail = self.state.fail
        fail.count -= 1
        if fail.count <= 0:
            self.state.fail = None
        headers = {"Retry-After": str(math.ceil(fail.retry_after))} if fail.retry_after is not None else {}
        if fail.status == 429:
            headers["X-Rate-Limit-Problem"] = fail.problem
            return problem(429, "Too Many Requests", f"Rate limit exceeded: {fail.problem}", headers)
        if fail.status == 503:
            return problem(503, "Service Unavailable", "The Xero API is temporarily unavailable", headers)
        detail = "An error occurred in Xero. Check the API Status page for current service status."
        return problem(500, "An error occurred", detail, headers)

    def _envelope(self, key: str, items: list[dict]) -> dict:
        return {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": PROVIDER_NAME,
                "DateTimeUTC": ms_date(datetime.now(UTC)), key: items}

    def _organisation(self, tenant: str, raw: bytes) -> Reply:
        name = self.state.tenants.get(tenant, "")
        organisation = {"OrganisationID": tenant, "Name": name, "LegalName": name, "BaseCurrency": "USD",
                        "CountryCode": "PR", "OrganisationType": "COMPANY", "OrganisationStatus": "ACTIVE",
                        "IsDemoCompany": False}
        return json_reply(200, self._envelope("Organisations", [organisation]))

    def _account_id(self, tenant: str, code: str) -> str:
        return str(uuid.uuid5(ACCOUNT_IDS, f"{tenant}:{code}"))

    def _accounts(self, tenant: str, raw: bytes) -> Reply:
        accounts = []
        for code, (name, kind) in sorted(self.state.chart(tenant).items()):
            account = {"AccountID": self._account_id(tenant, code), "Code": code, "Name": name, "Type": kind,
                       "Status": "ACTIVE", "TaxType": "NONE", "Class": ACCOUNT_CLASSES.get(kind, "ASSET")}
            if kind == "BANK":
                account.update(BankAccountType="BANK", CurrencyCode="USD")
            accounts.append(account)
        return json_reply(200, self._envelope("Accounts", accounts))

    def _get_journals(self, tenant: str, journal_id: str | None) -> Reply:
        journals = [journal for owner, journal in self.state.journals.values() if owner == tenant]
        if journal_id is not None:
            journals = [j for j in journals if j["ManualJournalID"].lower() == journal_id.lower()]
            if not journals:
                return problem(404, "Not Found", "The resource you're looking for cannot be found")
        return json_reply(200, self._envelope("ManualJournals", journals))

    def _create_journals(self, tenant: str, raw: bytes) -> Reply:
        """PUT or POST /ManualJournals; a repeated Idempotency-Key gets the original answer back."""
        key = self.headers.get("Idempotency-Key") or None
        if key and len(key) > IDEMPOTENCY_KEY_MAX:
            return problem(400, "Bad Request", f"Idempotency-Key must be at most {IDEMPOTENCY_KEY_MAX} characters")
        if key and (tenant, key) in self.state.answers:
            self.state.replays += 1
            return self.state.answers[(tenant, key)]
        try:
            reply = self._journals(tenant, key, raw)
        except Rejected as rejected:
            reply = rejected.reply
        if key:
            self.state.answers[(tenant, key)] = reply  # errors too: Xero replays whatever it answered first
        return reply

    def _journals(self, tenant: str, key: str | None, raw: bytes) -> Reply:
        if self._media_type() != "application/json":
            raise post_data_invalid("Content-Type must be application/json (this simulator reads no XML)")
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise post_data_invalid(f"Invalid JSON: {error}") from None
        journals = body.get("ManualJournals") if isinstance(body, dict) else None
        if not isinstance(journals, list) or not journals or not all(isinstance(j, dict) for j in journals):
            raise post_data_invalid("The body must be {\"ManualJournals\": [ {…}, … ]}")
        summarize = self.params.get("summarizeErrors", "true").lower() != "false"
        checked = [(journal, self._journal_errors(tenant, journal)) for journal in journals]
        if summarize and any(errors for _, errors in checked):
            elements = [{**journal, "ValidationErrors": [{"Message": m} for m in errors]}
                        for journal, errors in checked]
            return validation_reply(elements)
        answered = []
        for journal, errors in checked:
            if errors:  # summarizeErrors=false: each element reports its own outcome
                answered.append({**journal, "StatusAttributeString": "ERROR",
                                 "ValidationErrors": [{"Message": m} for m in errors]})
            else:
                answered.append(self._save(tenant, key, journal, summarize))
        return json_reply(200, self._envelope("ManualJournals", answered))

    def _journal_errors(self, tenant: str, journal: dict) -> list[str]:
        errors = []
        narration = journal.get("Narration")
        if not isinstance(narration, str) or not narration.strip():
            errors.append("Narration is required")
        if "Date" in journal and journal_date(journal["Date"]) is None:
            errors.append("Date must be a valid date (YYYY-MM-DD)")
        line_amount_types = journal.get("LineAmountTypes", "NoTax")
        if line_amount_types not in LINE_AMOUNT_TYPES:
            errors.append(f"LineAmountTypes must be one of {', '.join(LINE_AMOUNT_TYPES)}")
        if journal.get("Status", "DRAFT") not in CREATE_STATUSES:
            errors.append("Status must be DRAFT or POSTED for a new manual journal")
        if "ManualJournalID" in journal:
            errors.append("This simulator only creates manual journals: ManualJournalID is not accepted")
        lines = journal.get("JournalLines")
        if not isinstance(lines, list) or len(lines) < 2 or not all(isinstance(line, dict) for line in lines):
            errors.append("A manual journal must have at least two journal lines")
            return errors
        chart = self.state.chart(tenant)
        by_id = {self._account_id(tenant, code): code for code in chart}
        amounts, bad_codes = [], []
        for line in lines:
            amount = line.get("LineAmount")
            if is_number(amount) and amount == 0:
                errors.append("Journal lines must have a non-zero LineAmount")
            elif not amount_ok(amount):
                errors.append("LineAmount must be a number with at most 2 decimal places")
            else:
                amounts.append(cents(amount))
            code = line.get("AccountCode")
            if code is None and isinstance(line.get("AccountID"), str):
                code = by_id.get(line["AccountID"].lower(), line["AccountID"])
            code = "" if code is None else str(code)
            if code not in chart and code not in bad_codes:
                bad_codes.append(code)
            tax_type = line.get("TaxType", "NONE")
            if line_amount_types != "NoTax" and tax_type != "NONE":
                errors.append("This simulator computes no tax: use LineAmountTypes NoTax or TaxType NONE")
        errors += [f"Account code '{code}' is not a valid code for this document." for code in bad_codes]
        if len(amounts) == len(lines):
            debits = sum(a for a in amounts if a > 0)
            credits = sum(a for a in amounts if a < 0)
            if debits + credits != 0:
                errors.append(f"The total debits ({money(debits)}) must equal total credits ({money(credits)})")
        return errors

    def _save(self, tenant: str, key: str | None, journal: dict, summarize: bool) -> dict:
        state = self.state
        chart = state.chart(tenant)
        by_id = {self._account_id(tenant, code): code for code in chart}
        when = journal_date(journal.get("Date")) or datetime.now(UTC).date()  # Xero dates an undated journal today
        midnight = datetime.combine(when, datetime.min.time(), tzinfo=UTC)
        journal_id = str(uuid.uuid4())
        lines = []
        for line in journal["JournalLines"]:
            code = line.get("AccountCode")
            code = str(code) if code is not None else by_id[line["AccountID"].lower()]
            lines.append({**line, "LineAmount": line["LineAmount"], "AccountCode": code,
                          "AccountID": self._account_id(tenant, code), "TaxType": line.get("TaxType", "NONE"),
                          "TaxAmount": 0.0, "IsBlank": False})
        status = journal.get("Status", "DRAFT")
        answered = {
            **journal,
            "Date": ms_date_offset(midnight),
            "Status": status,
            "LineAmountTypes": journal.get("LineAmountTypes", "NoTax"),
            "JournalLines": lines,
            "ShowOnCashBasisReports": journal.get("ShowOnCashBasisReports", True),
            "HasAttachments": False,
            "UpdatedDateUTC": ms_date_offset(datetime.now(UTC)),
            "ManualJournalID": journal_id,
        }
        if not summarize:
            answered["StatusAttributeString"] = "OK"
        state.journals[journal_id] = (tenant, answered)
        state.manual_journals.append({
            "tenant": tenant,
            "idempotency_key": key,
            "ManualJournalID": journal_id,
            "Date": when.isoformat(),
            "Narration": journal["Narration"],
            "Status": status,
            "lines": journal["JournalLines"],
            "body": journal,
        })
        return answered


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> ThreadingHTTPServer:
    return serve(XeroHandler, XeroState(client_id, client_secret), host, port)


def main() -> None:
    run_main("Xero", "Xero identity + Connections + Accounting API simulator", PORT, make_server,
             client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)


if __name__ == "__main__":
    main()
