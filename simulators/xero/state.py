"""Everything the Xero fake remembers, what `POST /_control` changes in it and what `GET /_state` shows."""

from __future__ import annotations

from simulators.base import Reply
from simulators.faults import Faults
from simulators.oauth import CONTROL_KEYS as OAUTH_CONTROL_KEYS
from simulators.xero.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, XeroIdentity
from simulators.xero.limits import RATE_PROBLEMS, RateLimits, today

DEFAULT_ACCOUNTS = {
    "090": ("Cash on hand", "BANK"),
    "091": ("Card clearing", "CURRENT"),
    "092": ("Check clearing", "CURRENT"),
    "093": ("Charge accounts receivable", "CURRENT"),
    "200": ("Sales", "REVENUE"),
    "820": ("IVU payable - state", "CURRLIAB"),
    "821": ("IVU payable - municipal", "CURRLIAB"),
}
CONTROL_KEYS = OAUTH_CONTROL_KEYS | {"reset", "fail", "accounts", "next_tenant", "same_grant_next_consent", "day_used"}


class XeroState(XeroIdentity, RateLimits):
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    def __init__(self, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET):
        self.faults = Faults((429, 500, 503), options={"problem": RATE_PROBLEMS})
        super().__init__(client_id, client_secret)

    def reset(self) -> None:
        super().reset()
        self.reset_limits()
        self.faults.scheduled = None
        self.accounts: dict[str, dict[str, str]] = {}  # tenantId → {code: name}, where it differs from the default
        self.answers: dict[tuple[str, str], Reply] = {}  # (tenantId, Idempotency-Key) → the original answer
        self.journals: dict[str, tuple[str, dict]] = {}  # ManualJournalID → (tenantId, the journal as answered)
        self.manual_journals: list[dict] = []
        self.replays = 0
        self.accounting_requests = 0

    def chart(self, tenant: str) -> dict[str, tuple[str, str]]:
        """Code → (name, type); a replaced chart keeps the default types of the codes it shares."""
        if tenant not in self.accounts:
            return DEFAULT_ACCOUNTS
        return {code: (name, DEFAULT_ACCOUNTS.get(code, ("", "CURRENT"))[1])
                for code, name in self.accounts[tenant].items()}

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        if unknown := sorted(set(body) - CONTROL_KEYS):
            raise ValueError(f"unknown control keys: {', '.join(unknown)}")
        fail = self.faults.parse(body)
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

        if body.get("reset"):
            self.reset()
        self.control_grants(body)
        if "fail" in body:
            self.faults.scheduled = fail
        for tenant, chart in accounts.items():
            self.accounts[str(tenant)] = {str(code): str(name) for code, name in chart.items()}
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
