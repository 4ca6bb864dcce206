"""Everything the Xero fake remembers, what `POST /_control` changes in it and what `GET /_state` shows."""

from __future__ import annotations

from simulators.base import Reply
from simulators.faults import Faults
from simulators.oauth import CONTROL_KEYS as OAUTH_CONTROL_KEYS
from simulators.xero.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, XeroIdentity
from simulators.xero.limits import RATE_PROBLEMS, RateLimits, today

# An organisation's chart: Code → the Account fields the fake keeps (Xero's names).
DEFAULT_ACCOUNTS = {
    "090": {"Name": "Cash on hand", "Type": "BANK", "Status": "ACTIVE"},
    "091": {"Name": "Card clearing", "Type": "CURRENT", "Status": "ACTIVE"},
    "092": {"Name": "Check clearing", "Type": "CURRENT", "Status": "ACTIVE"},
    "093": {"Name": "Charge accounts receivable", "Type": "CURRENT", "Status": "ACTIVE"},
    "094": {"Name": "Old register drawer", "Type": "BANK", "Status": "ARCHIVED"},
    "200": {"Name": "Sales", "Type": "REVENUE", "Status": "ACTIVE"},
    "469": {"Name": "Rent", "Type": "EXPENSE", "Status": "ACTIVE"},
    "820": {"Name": "IVU payable - state", "Type": "CURRLIAB", "Status": "ACTIVE"},
    "821": {"Name": "IVU payable - municipal", "Type": "CURRLIAB", "Status": "ACTIVE"},
}
ACCOUNT_STATUSES = ("ACTIVE", "ARCHIVED")
CONTROL_KEYS = OAUTH_CONTROL_KEYS | {"reset", "fail", "accounts", "next_tenant", "same_grant_next_consent", "day_used"}


def chart_account(code: str, given) -> dict:
    """A `/_control` chart entry: a name (the default chart's fields for that code, else an active CURRENT
    account) or a dict of Account fields over those defaults; a bad one raises ValueError."""
    account = dict(DEFAULT_ACCOUNTS.get(code, {"Name": "", "Type": "CURRENT", "Status": "ACTIVE"}))
    if isinstance(given, str):
        return {**account, "Name": given}
    if (not isinstance(given, dict) or set(given) - set(account) or not all(isinstance(v, str) for v in given.values())
            or given.get("Status", "ACTIVE") not in ACCOUNT_STATUSES):
        raise ValueError(f"account {code}: a name or {{Name, Type, Status}} (Status ACTIVE or ARCHIVED)")
    return {**account, **given}


class XeroState(XeroIdentity, RateLimits):
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET):
        self.faults = Faults((429, 500, 503), options={"problem": RATE_PROBLEMS})
        super().__init__(client_id, client_secret)

    def reset(self) -> None:
        super().reset()
        self.reset_limits()
        self.faults.scheduled = None
        self.accounts: dict[str, dict[str, dict]] = {}  # tenantId → chart, where it differs from the default
        self.answers: dict[tuple[str, str], Reply] = {}  # (tenantId, Idempotency-Key) → the original answer
        self.journals: dict[str, tuple[str, dict]] = {}  # ManualJournalID → (tenantId, the journal as answered)
        self.manual_journals: list[dict] = []
        self.replays = 0
        self.accounting_requests = 0

    def chart(self, tenant: str) -> dict[str, dict]:
        """Code → Account fields, archived accounts included (a journal line refuses them)."""
        return self.accounts.get(tenant, DEFAULT_ACCOUNTS)

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        if unknown := sorted(set(body) - CONTROL_KEYS):
            raise ValueError(f"unknown control keys: {', '.join(unknown)}")
        fail = self.faults.parse(body)
        accounts = body.get("accounts") or {}
        if not isinstance(accounts, dict) or not all(isinstance(chart, dict) for chart in accounts.values()):
            raise ValueError("accounts must be {tenantId: {code: name or {Name, Type, Status}}}")
        charts = {str(tenant): {str(code): chart_account(str(code), given) for code, given in chart.items()}
                  for tenant, chart in accounts.items()}
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

        if body.get("reset"):
            self.reset()
        self.control_grants(body)
        if "fail" in body:
            self.faults.scheduled = fail
        self.accounts.update(charts)
        if "next_tenant" in body:
            self.next_tenant = dict(next_tenant) if next_tenant else None
        if "same_grant_next_consent" in body:
            self.same_grant_next_consent = bool(body["same_grant_next_consent"])
        for tenant, used in day_used.items():
            self.day_used[str(tenant)] = (today(), used)

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
