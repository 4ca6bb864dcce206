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
# A company's chart: Id → the Account fields the fake keeps (Intuit's names). Id is what an AccountRef carries;
# AcctNum is the number the company's bookkeeper sees (optional in QuickBooks).
DEFAULT_ACCOUNTS = {
    "1": {"Name": "Undeposited Funds", "AcctNum": "1200", "AccountType": "Other Current Asset", "Active": True},
    "35": {"Name": "Checking", "AcctNum": "1000", "AccountType": "Bank", "Active": True},
    "36": {"Name": "Cash on hand", "AcctNum": "1010", "AccountType": "Bank", "Active": True},
    "37": {"Name": "Card clearing", "AcctNum": "1020", "AccountType": "Other Current Asset", "Active": True},
    "38": {"Name": "Check clearing", "AcctNum": "1030", "AccountType": "Other Current Asset", "Active": True},
    "39": {"Name": "Charge accounts receivable", "AcctNum": "1100", "AccountType": "Other Current Asset",
           "Active": True},
    "40": {"Name": "Old register drawer", "AcctNum": "1015", "AccountType": "Bank", "Active": False},
    "60": {"Name": "Rent or lease", "AcctNum": "6100", "AccountType": "Expense", "Active": True},
    "79": {"Name": "Sales", "AcctNum": "4000", "AccountType": "Income", "Active": True},
    "80": {"Name": "IVU payable - state", "AcctNum": "2200", "AccountType": "Other Current Liability", "Active": True},
    "81": {"Name": "IVU payable - municipal", "AcctNum": "2210", "AccountType": "Other Current Liability",
           "Active": True},
}
ACCOUNT_FIELDS = {"Name": str, "AcctNum": str, "AccountType": str, "Active": bool}


def chart_account(id_: str, given) -> dict:
    """A `/_control` chart entry: a name (the default chart's fields for that Id, else an active Other Current
    Asset) or a dict of Account fields over those defaults; a bad one raises ValueError."""
    account = dict(DEFAULT_ACCOUNTS.get(id_, {"Name": "", "AcctNum": "", "AccountType": "Other Current Asset",
                                             "Active": True}))
    if isinstance(given, str):
        return {**account, "Name": given}
    if not isinstance(given, dict) or any(not isinstance(given[key], kind) for key, kind in ACCOUNT_FIELDS.items()
                                          if key in given) or set(given) - set(ACCOUNT_FIELDS):
        raise ValueError(f"account {id_}: a name or {{Name, AcctNum, AccountType, Active}}")
    return {**account, **given}


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
        self.accounts: dict[str, dict[str, dict]] = {}  # realm → chart, where it differs from the default
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

    def chart(self, realm: str) -> dict[str, dict]:
        """Id → Account fields, inactive accounts included (a query leaves them out, a posting refuses them)."""
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
            raise ValueError("accounts must be {realm: {id: name or {Name, AcctNum, AccountType, Active}}}")
        charts = {str(realm): {str(id_): chart_account(str(id_), given) for id_, given in chart.items()}
                  for realm, chart in accounts.items()}

        if body.get("reset"):
            self.reset()
        self.control_grants(body)
        self.expired_format = fmt
        if "fail" in body:
            self.faults.scheduled = fail
        self.accounts.update(charts)
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
