"""Xero: connected by OAuth 2 (the organisation comes from Connections, sent as `xero-tenant-id`);
the nightly batch posts one manual journal per location and day, built by
`integrations.connectors.journal`.

Facts: shared/reference/vendors.md ("Xero"). Debits are positive and credits negative. The
`Idempotency-Key` is the journal's request id, so a repeat is one journal at Xero. Xero allows 60
calls a minute and 5,000 a day per organisation: we count our own calls and wait before Xero has
to refuse, and a 429 it still sends is honoured through its Retry-After.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations.connectors.base import Account, SyncResult
from integrations.connectors.journal import (
    JOURNAL_MAPPING_GROUPS,
    PAYMENT_METHOD,
    REVENUE,
    TAX_CATEGORY,
    Journal,
    journals_post,
)
from integrations.connectors.oauth import OAuthConnector, Provider
from integrations.connectors.registry import register
from qiiub.errors import NotAllowed
from qiiub.http import RateLimited, shared_session

CODE = "accounting.xero"
XERO = Provider(
    name="Xero", settings_name="XERO",
    scopes=("openid", "profile", "email", "offline_access", "accounting.transactions", "accounting.settings.read"),
)
PER_MINUTE, PER_DAY = 60, 5000  # Xero's limits per organisation


@register(CODE)
class Xero(OAuthConnector):
    capabilities = frozenset({"test_connection", "scheduled_batch"})
    mapping_groups = JOURNAL_MAPPING_GROUPS
    mapping_target_hint = gettext_lazy("Xero account code")
    provider = XERO
    account_types_by_group = {
        PAYMENT_METHOD: frozenset({"BANK", "CURRENT"}),
        REVENUE: frozenset({"REVENUE", "SALES", "OTHERINCOME"}),
        TAX_CATEGORY: frozenset({"CURRLIAB", "LIABILITY"}),
    }

    @classmethod
    def connected_company(cls, *, access_token: str) -> str:
        """The organisation this consent connected: the newest of the grant's connections."""
        answer = cls(configuration={}, credentials={})._request(
            shared_session(), "GET", settings.XERO["connections_url"],
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"})
        organisations = [row for row in answer.json() if row.get("tenantType") == "ORGANISATION"]
        if not organisations:
            raise NotAllowed(_("Xero connected no organisation: choose one on Xero's consent page."),
                             code="oauth_no_company")
        return max(organisations, key=lambda row: row.get("updatedDateUtc") or row.get("createdDateUtc") or "")[
            "tenantId"]

    def _call(self, method: str, path: str, **kwargs) -> dict:
        tenant = self.credentials["company_id"]
        _spend_allowance(tenant)
        headers = {"xero-tenant-id": tenant, "Accept": "application/json", **kwargs.pop("headers", {})}
        response = self._authorised(method, f"{settings.XERO['api_url']}/{path}", headers=headers, **kwargs)
        _heed_remaining(tenant, response.headers)
        return response.json()

    def vendor_message(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        messages = [error.get("Message", "") for element in body.get("Elements") or []
                    for error in element.get("ValidationErrors") or []]
        return "; ".join(filter(None, messages)) or body.get("Message") or body.get("Detail") or ""

    def test_connection(self) -> None:
        self._call("GET", "Organisation")

    def chart_of_accounts(self) -> list[Account]:
        """The organisation's accounts that have a code: a journal line names its account by code."""
        return [Account(code=row["Code"], name=row["Name"], type=row.get("Type", ""),
                        active=row.get("Status") == "ACTIVE")
                for row in self._call("GET", "Accounts")["Accounts"] if row.get("Code")]

    def sync(self, *, since: datetime | None) -> SyncResult:
        return journals_post(integration=self.integration, since=since, post=self._post_journal)

    def _post_journal(self, journal: Journal, request_id: str) -> str:
        lines = [{"LineAmount": float(line.amount if line.posting == "Debit" else -line.amount),
                  "AccountCode": line.account, "Description": line.description}
                 for line in journal.lines]
        body = {"ManualJournals": [{
            "Narration": f"QIIUB POS sales, location {journal.location_code}, {journal.sales_count} sales",
            "Date": journal.day.isoformat(), "LineAmountTypes": "NoTax", "Status": "POSTED", "JournalLines": lines,
        }]}
        created = self._call("PUT", "ManualJournals", json=body, headers={"Idempotency-Key": request_id})
        return created["ManualJournals"][0]["ManualJournalID"]


def _allowance_keys(tenant: str) -> tuple[str, str]:
    now = time.time()
    return f"xero:minute:{tenant}:{int(now // 60)}", f"xero:day:{tenant}:{int(now // 86400)}"


def _heed_remaining(tenant: str, headers) -> None:
    """Xero's own count wins when it says an allowance is used up (another app of ours, or calls
    our counter did not see): the next call then waits instead of drawing a 429."""
    minute_key, day_key = _allowance_keys(tenant)
    for header, key, limit in (("X-MinLimit-Remaining", minute_key, PER_MINUTE), ("X-DayLimit-Remaining", day_key, PER_DAY)):
        if headers.get(header) == "0":
            cache.set(key, limit, timeout=120 if key == minute_key else 2 * 86400)


def _spend_allowance(tenant: str) -> None:
    """Count one call against the organisation's minute and day; if either is used up, wait for
    the next minute (or day) instead of calling: a 429 from Xero would cost the same wait."""
    now = time.time()
    minute_key, day_key = _allowance_keys(tenant)
    cache.add(minute_key, 0, timeout=120)
    cache.add(day_key, 0, timeout=2 * 86400)
    if cache.incr(day_key) > PER_DAY:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        raise RateLimited("daily_limit_used", vendor="Xero",
                          retry_after=(midnight - datetime.now(UTC)).total_seconds())
    if cache.incr(minute_key) > PER_MINUTE:
        raise RateLimited("minute_limit_used", vendor="Xero", retry_after=60 - now % 60)
