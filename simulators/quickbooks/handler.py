"""The QuickBooks fake's routes: Intuit's OAuth endpoints (the shared OAuth server) and the accounting API's gate
(realm-bound bearer token, 500 requests a minute per realm, scheduled failures, `minorversion`, Accept), CompanyInfo
and the Account query; `transactions` creates journal entries and sales receipts."""

from __future__ import annotations

import re
import secrets
import time
from collections import deque

from simulators.base import Rejected, Reply, prune
from simulators.oauth import OAuthHandler
from simulators.quickbooks.replies import (
    JSON,
    UNSUPPORTED,
    failure_reply,
    fault_reply,
    json_reply,
    qbo_time,
    throttle_reply,
    unauthorized,
)
from simulators.quickbooks.state import QuickBooksState
from simulators.quickbooks.transactions import Transactions

SCOPE = "com.intuit.quickbooks.accounting"
MIN_MINOR_VERSION = 75
RATE_LIMIT = 500  # requests per rolling minute per realm
DEFAULT_MAX_RESULTS, MAX_RESULTS = 100, 1000  # a query's page without MAXRESULTS, and the most QuickBooks allows
CLASSIFICATIONS = {"Bank": "Asset", "Other Current Asset": "Asset", "Income": "Revenue", "Other Income": "Revenue",
                   "Expense": "Expense", "Other Current Liability": "Liability"}


class QuickBooksHandler(OAuthHandler, Transactions):
    server_version = "QuickBooksSimulator/1.0"
    json_type = JSON
    request_id_header = "intuit_tid"
    authorize_path = "/connect/oauth2"
    token_path = "/oauth2/v1/tokens/bearer"
    revoke_path = "/v2/oauth2/tokens/revoke"
    required_scopes = (SCOPE,)
    revocation_form = False  # Intuit takes {"token": …} as JSON
    revocation_reply = Reply(200, b"{}", JSON)
    state: QuickBooksState

    def request_id(self) -> str:
        return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"

    def answer_api(self, path: str, raw: bytes) -> Reply:
        if match := re.fullmatch(r"/v3/company/([^/]+)/(\w+)(?:/([^/]+))?", path):
            with self.state.lock:
                return self._accounting(raw, *match.groups())
        return fault_reply(404, "ValidationFault", "610", "Object Not Found", f"No such resource: {path}")

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
        if fail := state.faults.due():
            return failure_reply(fail)
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
        raise Rejected(unauthorized(why, xml=self.state.expired_format == "xml"))

    def _query(self, realm: str, raw: bytes) -> Reply:
        if self.command == "POST":
            if self._media_type() != "application/text":
                return fault_reply(400, "ValidationFault", "2010", UNSUPPORTED, "Content-Type must be application/text")
            text = raw.decode(errors="replace")
        else:
            text = self.params.get("query", "")
        query = re.fullmatch(r"select \* from account(?: startposition (\d+))?(?: maxresults (\d+))?",
                             " ".join(text.split()).lower())
        if not query:
            detail = "QueryParserError: this simulator answers only 'select * from Account [STARTPOSITION n] [MAXRESULTS m]'"
            return fault_reply(400, "ValidationFault", "4000", "Error parsing query", detail)
        start, most = int(query.group(1) or 1), min(int(query.group(2) or DEFAULT_MAX_RESULTS), MAX_RESULTS)
        # Inactive accounts are left out of a query, as QuickBooks does; numeric order, as its ids are.
        active = sorted((pair for pair in self.state.chart(realm).items() if pair[1]["Active"]),
                        key=lambda pair: (len(pair[0]), pair[0]))
        accounts = [_account(id_, fields) for id_, fields in active[start - 1:start - 1 + most]]
        if not accounts:  # QuickBooks answers an empty QueryResponse, with no Account list at all
            return json_reply(200, {"QueryResponse": {}, "time": qbo_time()})
        result = {"Account": accounts, "startPosition": start, "maxResults": len(accounts)}
        return json_reply(200, {"QueryResponse": result, "time": qbo_time()})


def _account(id_: str, fields: dict) -> dict:
    """An Account as QuickBooks answers it (the fields a chart needs, and a few it always sends)."""
    account = {"Id": id_, "Name": fields["Name"], "FullyQualifiedName": fields["Name"], "Active": fields["Active"],
               "AccountType": fields["AccountType"], "Classification": CLASSIFICATIONS.get(fields["AccountType"], "Asset"),
               "CurrentBalance": 0, "SubAccount": False, "SyncToken": "0", "domain": "QBO", "sparse": False}
    if fields["AcctNum"]:  # absent, not empty, when the company does not number its accounts
        account["AcctNum"] = fields["AcctNum"]
    return account
