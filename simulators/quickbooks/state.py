"""Everything the QuickBooks fake remembers: companies (realms) and their charts, Intuit grants (through the shared
OAuth server), what was posted; what `POST /_control` changes in it and what `GET /_state` shows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from simulators.base import Reply
from simulators.faults import Faults
from simulators.oauth import Grant, OAuthState

DEFAULT_CLIENT_ID = "qiiub-dev-client"
DEFAULT_CLIENT_SECRET = "qiiub-dev-secret"
ACCESS_TTL = 3600
REFRESH_TTL = 8726400  # about 101 days: tests never live long enough to reach it
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


@dataclass
class QuickBooksGrant(Grant):
    """One authorization, bound to the company it was given for."""

    realm: str


class QuickBooksState(OAuthState):
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    access_ttl = ACCESS_TTL
    refresh_ttl = REFRESH_TTL

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET):
        self.faults = Faults((429, 500, 502, 503))
        super().__init__(client_id, client_secret)

    def reset(self) -> None:
        super().reset()
        self.faults.scheduled = None
        self.accounts: dict[str, dict[str, str]] = {}  # realm → chart, where it differs from the default
        self.realms: list[str] = []
        self.realm_seq = 0
        self.next_realm_id: str | None = None
        self.expired_format = "json"
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

    # --- the OAuth server's hooks ---

    def consented(self, query: dict[str, str]) -> tuple[str, dict[str, str]]:
        """Picks the company; the redirect names it as realmId."""
        realm = self.new_realm()
        return realm, {"realmId": realm}

    def grant_for(self, consent: str) -> QuickBooksGrant:
        return self.add_grant(QuickBooksGrant(consent))

    def token_answer(self, grant: QuickBooksGrant, access_token: str) -> dict:
        return {
            "access_token": access_token,
            "refresh_token": grant.refresh,
            "token_type": "bearer",
            "expires_in": ACCESS_TTL,
            "x_refresh_token_expires_in": REFRESH_TTL,
        }

    # --- control and state ---

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        fmt = body.get("expired_format", self.expired_format)
        if fmt not in ("json", "xml"):
            raise ValueError("expired_format must be 'json' or 'xml'")
        fail = self.faults.parse(body)
        accounts = body.get("accounts") or {}
        if not isinstance(accounts, dict) or not all(isinstance(chart, dict) for chart in accounts.values()):
            raise ValueError("accounts must be {realm: {id: name}}")

        if body.get("reset"):
            self.reset()
        self.control_grants(body)
        self.expired_format = fmt
        if "fail" in body:
            self.faults.scheduled = fail
        for realm, chart in accounts.items():
            self.accounts[str(realm)] = {str(id_): str(name) for id_, name in chart.items()}
        if "next_realm_id" in body:
            self.next_realm_id = str(body["next_realm_id"]) if body["next_realm_id"] else None

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
