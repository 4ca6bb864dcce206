"""A local fake of the QuickBooks Online accounting API and Intuit's OAuth 2 server, for the tests and `make run`.

It answers as Intuit documents and as real captures show: auto-approved
consent, a Basic-auth token endpoint whose refresh tokens rotate, realm-bound bearer tokens, `minorversion` ≥ 75,
`requestid` idempotency, QBO `Fault` bodies (including a Fault inside an HTTP 200) and 500 requests/min per realm.
Tests steer it through `POST /_control` and read what was posted from `GET /_state` or `server.state`.
Standard library only.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs

from simulators import base
from simulators.base import (
    FakeHandler,
    Rejected,
    Reply,
    basic_auth_ok,
    prune,
    run_main,
    serve,
    text_reply,
    with_query,
)

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "QBO_BASE_URL", 8766, "QuickBooks"

DEFAULT_CLIENT_ID = "qiiub-dev-client"
DEFAULT_CLIENT_SECRET = "qiiub-dev-secret"
SCOPE = "com.intuit.quickbooks.accounting"
ACCESS_TTL = 3600
REFRESH_TTL = 8726400  # advertised only: tests never live long enough to reach it
CODE_TTL = 600
MIN_MINOR_VERSION = 75
RATE_LIMIT = 500  # requests per rolling minute per realm
DEFAULT_ACCOUNTS = {
    "1": "Undeposited Funds",
    "35": "Checking",
    "36": "Cash on hand",
    "37": "Card clearing",
    "38": "Check clearing",
    "39": "Charge accounts receivable",
    "79": "Sales",
    "80": "IVU payable - state",
    "81": "IVU payable - municipal",
}
ACCOUNT_TYPES = {
    "1": "Other Current Asset",
    "35": "Bank",
    "36": "Bank",
    "37": "Other Current Asset",
    "38": "Other Current Asset",
    "39": "Other Current Asset",
    "79": "Income",
    "80": "Other Current Liability",
    "81": "Other Current Liability",
}
JSON = "application/json"  # Intuit names no charset
REQUIRED = "Required param missing, need to supply the required value for the API"
UNSUPPORTED = "Request has invalid or unsupported property"
XML_401 = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse time="{time}">'
    '<Fault type="AuthenticationFault"><Error code="100"><Message>General Authentication Error</Message>'
    "<Detail>AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401</Detail>"
    "</Error></Fault></IntuitResponse>"
)


@dataclass
class Grant:
    """One authorization: its current refresh token and every access token issued from it."""

    realm: str
    refresh: str = ""
    revoked: bool = False


@dataclass
class Access:
    grant: Grant
    expires_at: float


@dataclass
class Code:
    redirect_uri: str
    realm: str
    expires_at: float


@dataclass
class Failure:
    status: int
    count: int
    retry_after: float | None


def qbo_time() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def json_reply(status: int, body: dict, headers: dict[str, str] | None = None) -> Reply:
    return base.json_reply(status, body, headers, JSON)


def fault_reply(status: int, kind: str, code: str, message: str, detail: str = "", headers=None) -> Reply:
    error = {"Message": message, "Detail": detail, "code": code, "element": ""}
    return json_reply(status, {"Fault": {"Error": [error], "type": kind}, "time": qbo_time()}, headers)


def throttle_reply(headers: dict[str, str] | None = None) -> Reply:
    error = {
        "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "Detail": "The request limit was reached.",
        "code": "003001",
    }
    return json_reply(429, {"Fault": {"Error": [error], "type": "ThrottleExceeded"}, "time": qbo_time()}, headers)


def missing(field: str) -> Rejected:
    detail = f"Required parameter {field} is missing or invalid"
    return Rejected(fault_reply(400, "ValidationFault", "2020", REQUIRED, detail))


def unknown_account(value: str) -> Rejected:
    # QBO's quirk: a bad reference is a Fault inside an HTTP 200
    detail = f"Invalid Reference Id : Accounts element id {value} not found"
    return Rejected(fault_reply(200, "ValidationFault", "2500", "Invalid Reference Id", detail))


def amount_ok(value) -> bool:
    """A JSON number (not a string or bool), positive, in whole cents."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value > 0 and Decimal(repr(value)).as_tuple().exponent >= -2


def cents(value: int | float) -> int:
    return int(Decimal(repr(value)) * 100)


def ref_value(ref) -> str:
    value = ref.get("value") if isinstance(ref, dict) else None
    return "" if value in (None, "") else str(value)


def date_ok(value) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


class QuickBooksState:
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET):
        self.lock = threading.Lock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, dict[str, str]] = {}  # realm → chart, where it differs from the default
        self.realms: list[str] = []
        self.realm_seq = 0
        self.next_realm_id: str | None = None
        self.deny_next_consent = False
        self.codes: dict[str, Code] = {}
        self.refresh_tokens: dict[str, Grant] = {}  # every refresh token issued; only grant.refresh is current
        self.access_tokens: dict[str, Access] = {}
        self.grants = {"authorization_code": 0, "refresh_token": 0}
        self.expired_format = "json"
        self.fail: Failure | None = None
        self.hits: dict[str, deque[float]] = {}  # realm → times of recent accounting requests
        self.answers: dict[tuple[str, str], Reply] = {}  # (realm, requestid) → the original answer
        self.ids: dict[str, int] = {}
        self.journal_entries: list[dict] = []
        self.sales_receipts: list[dict] = []
        self.replays = 0
        self.accounting_requests = 0

    def chart(self, realm: str) -> dict[str, str]:
        return self.accounts.get(realm, DEFAULT_ACCOUNTS)

    def new_realm(self) -> str:
        if self.next_realm_id:
            realm, self.next_realm_id = self.next_realm_id, None
        else:
            self.realm_seq += 1
            realm = f"934145{self.realm_seq:010d}"
        if realm not in self.realms:
            self.realms.append(realm)
        return realm

    def issue(self, grant: Grant) -> dict:
        """Rotates the grant's refresh token and adds an access token; earlier access tokens stay valid."""
        grant.refresh = secrets.token_urlsafe(32)
        self.refresh_tokens[grant.refresh] = grant
        access = secrets.token_urlsafe(32)
        self.access_tokens[access] = Access(grant, time.time() + ACCESS_TTL)
        return {
            "access_token": access,
            "refresh_token": grant.refresh,
            "token_type": "bearer",
            "expires_in": ACCESS_TTL,
            "x_refresh_token_expires_in": REFRESH_TTL,
        }

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        fmt = body.get("expired_format", self.expired_format)
        if fmt not in ("json", "xml"):
            raise ValueError("expired_format must be 'json' or 'xml'")
        fail = body.get("fail")
        if fail is not None:
            if not isinstance(fail, dict) or fail.get("status") not in (429, 500, 502, 503):
                raise ValueError("fail.status must be one of 429, 500, 502, 503")
            count, retry_after = fail.get("count", 1), fail.get("retry_after")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError("fail.count must be a positive integer")
            if retry_after is not None and (isinstance(retry_after, bool) or not isinstance(retry_after, int | float)):
                raise ValueError("fail.retry_after must be a number of seconds or null")
        accounts = body.get("accounts") or {}
        if not isinstance(accounts, dict) or not all(isinstance(chart, dict) for chart in accounts.values()):
            raise ValueError("accounts must be {realm: {id: name}}")

        if body.get("reset"):
            self.reset()
        if body.get("expire_access_tokens"):
            for access in self.access_tokens.values():
                access.expires_at = 0
        self.expired_format = fmt
        if body.get("revoke_all"):
            for grant in self.refresh_tokens.values():
                grant.revoked = True
        if "fail" in body:
            self.fail = fail and Failure(fail["status"], fail.get("count", 1), fail.get("retry_after"))
        for realm, chart in accounts.items():
            self.accounts[str(realm)] = {str(id_): str(name) for id_, name in chart.items()}
        if "next_realm_id" in body:
            self.next_realm_id = str(body["next_realm_id"]) if body["next_realm_id"] else None
        if "deny_next_consent" in body:
            self.deny_next_consent = bool(body["deny_next_consent"])

    def snapshot(self) -> dict:
        """What `/_state` shows: no tokens."""
        return {
            "grants": dict(self.grants),
            "journal_entries": list(self.journal_entries),
            "sales_receipts": list(self.sales_receipts),
            "replays": self.replays,
            "accounting_requests": self.accounting_requests,
            "realms": list(self.realms),
        }


class QuickBooksHandler(FakeHandler):
    server_version = "QuickBooksSimulator/1.0"
    json_type = JSON
    request_id_header = "intuit_tid"
    state: QuickBooksState

    def request_id(self) -> str:
        return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"

    def answer(self, path: str, raw: bytes) -> Reply:
        route = (self.command, path)
        if route == ("GET", "/connect/oauth2"):
            return self._consent()
        if route == ("POST", "/oauth2/v1/tokens/bearer"):
            return self._token(raw)
        if route == ("POST", "/v2/oauth2/tokens/revoke"):
            return self._revoke(raw)
        if match := re.fullmatch(r"/v3/company/([^/]+)/(\w+)(?:/([^/]+))?", path):
            with self.state.lock:
                return self._accounting(raw, *match.groups())
        return fault_reply(404, "ValidationFault", "610", "Object Not Found", f"No such resource: {path}")

    # --- OAuth ---

    def _consent(self) -> Reply:
        """The consent screen, approved at once: redirects back with a code, or with access_denied when told to."""
        query = self.params
        checks = (
            (query.get("client_id") == self.state.client_id, "client_id is not a registered app"),
            (query.get("response_type") == "code", "response_type must be 'code'"),
            (SCOPE in query.get("scope", "").split(), f"scope must include {SCOPE}"),
            (bool(query.get("redirect_uri")), "redirect_uri is required"),
            (bool(query.get("state")), "state is required"),
        )
        for ok, why in checks:
            if not ok:
                return text_reply(400, why)
        with self.state.lock:
            if self.state.deny_next_consent:
                self.state.deny_next_consent = False
                params = {"error": "access_denied", "state": query["state"]}
            else:
                realm = self.state.new_realm()
                code = secrets.token_urlsafe(24)
                self.state.codes[code] = Code(query["redirect_uri"], realm, time.time() + CODE_TTL)
                params = {"code": code, "state": query["state"], "realmId": realm}
        return Reply(302, b"", "text/plain", {"Location": with_query(query["redirect_uri"], params)})

    def _client_ok(self) -> bool:
        return basic_auth_ok(self.headers.get("Authorization", ""), self.state.client_id, self.state.client_secret)

    def _token(self, raw: bytes) -> Reply:
        if not self._client_ok():
            return json_reply(401, {"error": "invalid_client"})
        if self._media_type() != "application/x-www-form-urlencoded":
            return json_reply(400, {"error": "invalid_request"})
        form = {key: values[-1] for key, values in parse_qs(raw.decode(errors="replace")).items()}
        grant_type = form.get("grant_type", "")
        invalid = json_reply(400, {"error": "invalid_grant"})
        with self.state.lock:
            if grant_type == "authorization_code":
                code = self.state.codes.pop(form.get("code", ""), None)  # single use, even when the exchange fails
                if code is None or code.expires_at <= time.time() or form.get("redirect_uri") != code.redirect_uri:
                    return invalid
                grant = Grant(code.realm)
            elif grant_type == "refresh_token":
                token = form.get("refresh_token", "")
                grant = self.state.refresh_tokens.get(token)
                if grant is None or grant.revoked or grant.refresh != token:
                    return invalid
            else:
                return json_reply(400, {"error": "unsupported_grant_type"})
            self.state.grants[grant_type] += 1
            return json_reply(200, self.state.issue(grant))

    def _revoke(self, raw: bytes) -> Reply:
        if not self._client_ok():
            return json_reply(401, {"error": "invalid_client"})
        try:
            token = json.loads(raw).get("token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            return json_reply(400, {"error": "invalid_request"})
        with self.state.lock:
            access = self.state.access_tokens.get(token)
            grant = self.state.refresh_tokens.get(token) or (access and access.grant)
            if grant:
                grant.revoked = True
        return json_reply(200, {})  # an unknown token is not an error (RFC 7009)

    # --- Accounting (called with the state lock held) ---

    def _accounting(self, raw: bytes, realm: str, entity: str, item: str | None) -> Reply:
        state = self.state
        state.accounting_requests += 1
        self._authenticate(realm)
        now = time.monotonic()
        window = prune(state.hits.setdefault(realm, deque()), now)
        if len(window) >= RATE_LIMIT:
            return throttle_reply()  # not counted, so a throttled client recovers once the minute rolls on
        window.append(now)
        if state.fail:
            return self._injected_failure()
        version = self.params.get("minorversion", "")
        if not version.isdecimal() or int(version) < MIN_MINOR_VERSION:
            detail = f"minorversion must be {MIN_MINOR_VERSION} or later"
            return fault_reply(400, "ValidationFault", "2010", "Invalid minorversion", detail)
        if "application/json" not in self.headers.get("Accept", ""):
            return fault_reply(400, "ValidationFault", "2010", UNSUPPORTED, "Accept must be application/json")
        match (self.command, entity, item):
            case ("GET", "companyinfo", str()):
                if item != realm:
                    return fault_reply(400, "ValidationFault", "610", "Object Not Found", f"CompanyInfo {item}")
                info = {"Id": realm, "CompanyName": f"Demo Pharmacy {realm[-4:]}", "Country": "US"}
                return json_reply(200, {"CompanyInfo": info, "time": qbo_time()})
            case ("GET" | "POST", "query", None):
                return self._query(realm, raw)
            case ("POST", "journalentry" | "salesreceipt", None):
                return self._create(realm, entity, raw)
        return fault_reply(404, "ValidationFault", "610", "Object Not Found", f"No such resource: {entity}")

    def _authenticate(self, realm: str) -> None:
        header = self.headers.get("Authorization", "")
        access = self.state.access_tokens.get(header[7:] if header.startswith("Bearer ") else "")
        if access is None:
            why = "the access token is missing or unknown"
        elif access.grant.revoked:
            why = "the access token was revoked"
        elif access.grant.realm != realm:
            why = "the access token belongs to another company"
        elif access.expires_at <= time.time():
            why = "the access token has expired"
        else:
            return
        if self.state.expired_format == "xml":
            raise Rejected(Reply(401, XML_401.format(time=qbo_time()).encode(), "application/xml"))
        error = {
            "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
            "detail": f"Token expired: {why}",  # never echo the token itself
            "code": "3200",
            "element": None,
        }
        body = {
            "warnings": None,
            "intuitObject": None,
            "fault": {"error": [error], "type": "AUTHENTICATION"},
            "report": None,
            "queryResponse": None,
            "time": int(time.time() * 1000),
        }
        raise Rejected(json_reply(401, body))

    def _injected_failure(self) -> Reply:
        fail = self.state.fail
        fail.count -= 1
        if fail.count <= 0:
            self.state.fail = None
        headers = {"Retry-After": str(math.ceil(fail.retry_after))} if fail.retry_after is not None else None
        if fail.status == 429:
            return throttle_reply(headers)
        message = "An application error has occurred"
        return fault_reply(fail.status, "SystemFault", "10000", message, "Simulated failure", headers)

    def _query(self, realm: str, raw: bytes) -> Reply:
        if self.command == "POST":
            if self._media_type() != "application/text":
                return fault_reply(400, "ValidationFault", "2010", UNSUPPORTED, "Content-Type must be application/text")
            text = raw.decode(errors="replace")
        else:
            text = self.params.get("query", "")
        if " ".join(text.split()).lower() != "select * from account":
            detail = "QueryParserError: this simulator answers only 'select * from Account'"
            return fault_reply(400, "ValidationFault", "4000", "Error parsing query", detail)
        chart = sorted(self.state.chart(realm).items(), key=lambda pair: (len(pair[0]), pair[0]))  # numeric order
        accounts = [
            {"Id": id_, "Name": name, "AccountType": ACCOUNT_TYPES.get(id_, "Other Current Asset"), "Active": True}
            for id_, name in chart
        ]
        result = {"Account": accounts, "startPosition": 1, "maxResults": len(accounts)}
        return json_reply(200, {"QueryResponse": result, "time": qbo_time()})

    def _create(self, realm: str, entity: str, raw: bytes) -> Reply:
        """Creates a journal entry or sales receipt; a repeated requestid gets the original answer back."""
        requestid = self.params.get("requestid") or None
        if requestid and len(requestid) > 50:
            return fault_reply(400, "ValidationFault", "2010", UNSUPPORTED, "requestid must be at most 50 characters")
        if requestid and (realm, requestid) in self.state.answers:
            self.state.replays += 1
            return self.state.answers[(realm, requestid)]
        try:
            if entity == "journalentry":
                reply = self._journal_entry(realm, requestid, raw)
            else:
                reply = self._sales_receipt(realm, requestid, raw)
        except Rejected as rejected:
            reply = rejected.reply
        if requestid:
            self.state.answers[(realm, requestid)] = reply  # faults too: QBO replays whatever it answered first
        return reply

    def _body(self, raw: bytes) -> dict:
        if self._media_type() != "application/json":
            detail = "Content-Type must be application/json"
            raise Rejected(fault_reply(400, "ValidationFault", "2010", UNSUPPORTED, detail))
        try:
            body = json.loads(raw)
        except ValueError:
            raise missing("request body (JSON)") from None
        if not isinstance(body, dict):
            raise missing("request body (JSON object)")
        if not isinstance(body.get("Line"), list) or not body["Line"]:
            raise missing("Line")
        if "TxnDate" in body and not date_ok(body["TxnDate"]):
            raise missing("TxnDate (YYYY-MM-DD)")
        return body

    def _journal_entry(self, realm: str, requestid: str | None, raw: bytes) -> Reply:
        body = self._body(raw)
        postings = []  # (side, cents, account)
        for index, line in enumerate(body["Line"]):
            where = f"Line[{index}]"
            if not isinstance(line, dict) or line.get("DetailType") != "JournalEntryLineDetail":
                raise missing(f"{where}.DetailType")
            if not amount_ok(line.get("Amount")):
                raise missing(f"{where}.Amount")
            detail = line.get("JournalEntryLineDetail")
            if not isinstance(detail, dict) or detail.get("PostingType") not in ("Debit", "Credit"):
                raise missing(f"{where}.JournalEntryLineDetail.PostingType")
            if not (account := ref_value(detail.get("AccountRef"))):
                raise missing(f"{where}.JournalEntryLineDetail.AccountRef.value")
            postings.append((detail["PostingType"], cents(line["Amount"]), account))
        chart = self.state.chart(realm)
        for _, _, account in postings:
            if account not in chart:
                raise unknown_account(account)
        debits = sum(amount for side, amount, _ in postings if side == "Debit")
        credits = sum(amount for side, amount, _ in postings if side == "Credit")
        if debits != credits:
            totals = f"debits {debits / 100:.2f}, credits {credits / 100:.2f}"
            detail = f"Business Validation Error: Transaction must balance ({totals})."
            message = "A business validation error has occurred while processing your request"
            return fault_reply(400, "ValidationFault", "6000", message, detail)
        return self._save(realm, requestid, "JournalEntry", body, self.state.journal_entries)

    def _sales_receipt(self, realm: str, requestid: str | None, raw: bytes) -> Reply:
        body = self._body(raw)
        items = 0
        for index, line in enumerate(body["Line"]):
            if not isinstance(line, dict):
                raise missing(f"Line[{index}]")
            if line.get("DetailType") == "SalesItemLineDetail":
                if not amount_ok(line.get("Amount")):
                    raise missing(f"Line[{index}].Amount")
                items += 1
        if not items:
            raise missing("Line (a SalesItemLineDetail line)")
        if "DepositToAccountRef" in body:
            if not (account := ref_value(body["DepositToAccountRef"])):
                raise missing("DepositToAccountRef.value")
            if account not in self.state.chart(realm):
                raise unknown_account(account)
        return self._save(realm, requestid, "SalesReceipt", body, self.state.sales_receipts)

    def _save(self, realm: str, requestid: str | None, kind: str, body: dict, records: list[dict]) -> Reply:
        self.state.ids[realm] = self.state.ids.get(realm, 0) + 1
        id_ = str(self.state.ids[realm])
        txn_date = body.get("TxnDate") or date.today().isoformat()  # QBO dates an undated transaction today
        records.append(
            {
                "realm": realm,
                "requestid": requestid,
                "Id": id_,
                "TxnDate": txn_date,
                "lines": body["Line"],
                "body": body,
            }
        )
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        created = {
            **body,
            "TxnDate": txn_date,
            "Id": id_,
            "SyncToken": "0",
            "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
        }
        return json_reply(200, {kind: created, "time": qbo_time()})


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> ThreadingHTTPServer:
    return serve(QuickBooksHandler, QuickBooksState(client_id, client_secret), host, port)


def main() -> None:
    run_main("QuickBooks", "QuickBooks Online + Intuit OAuth simulator", PORT, make_server,
             client_id=DEFAULT_CLIENT_ID, client_secret=DEFAULT_CLIENT_SECRET)


if __name__ == "__main__":
    main()
