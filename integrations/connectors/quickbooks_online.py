"""QuickBooks Online: connected by OAuth 2 (the company is the redirect's realmId); the nightly batch
posts one journal entry (or, if configured, one sales receipt) per location and day, built by
`integrations.connectors.journal`.

Facts: shared/reference/vendors.md ("QuickBooks Online"). Every call carries `minorversion`; a
create carries `requestid`, so a repeat after a crash returns the original entry, not a second one.
A fault can come inside an HTTP 200, so every answer is read for one.
"""

from __future__ import annotations

from datetime import datetime

import requests
from django.conf import settings
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
from qiiub.card_guard import mask_card_numbers
from qiiub.http import VendorRejected

CODE = "accounting.quickbooks_online"
QUICKBOOKS = Provider(
    name="QuickBooks", settings_name="QUICKBOOKS", scopes=("com.intuit.quickbooks.accounting",), company_param="realmId"
)
ACCOUNTS_PER_PAGE = 1000  # the most rows a QuickBooks query answers at once


@register(CODE)
class QuickBooksOnline(OAuthConnector):
    capabilities = frozenset({"test_connection", "scheduled_batch"})
    mapping_groups = JOURNAL_MAPPING_GROUPS
    mapping_target_hint = gettext_lazy("QuickBooks account id (or item id, when posting sales receipts)")
    provider = QUICKBOOKS
    account_types_by_group = {
        PAYMENT_METHOD: frozenset({"Bank", "Other Current Asset"}),
        REVENUE: frozenset({"Income", "Other Income"}),
        TAX_CATEGORY: frozenset({"Other Current Liability"}),
    }

    def _url(self, path: str) -> str:
        return f"{settings.QUICKBOOKS['api_url']}/company/{self.credentials['company_id']}/{path}"

    def _call(self, method: str, path: str, *, params: dict | None = None, **kwargs) -> dict:
        params = {"minorversion": settings.QUICKBOOKS["minor_version"], **(params or {})}
        response = self._authorised(method, self._url(path), params=params,
                                    headers={"Accept": "application/json"}, **kwargs)
        body = response.json()
        if "Fault" in body:  # QuickBooks reports some validation faults with HTTP 200
            raise VendorRejected("vendor_refused_said", vendor=self.vendor, said=mask_card_numbers(_fault_text(body)), detail=str(body)[:300])
        return body

    def vendor_message(self, response: requests.Response) -> str:
        try:
            return _fault_text(response.json())
        except ValueError:
            return ""

    def test_connection(self) -> None:
        self._call("GET", f"companyinfo/{self.credentials['company_id']}")

    @classmethod
    def maps_to_chart(cls, configuration: dict) -> bool:
        return configuration.get("posting") != "sales_receipt"  # a sales receipt's targets are items

    def chart_of_accounts(self) -> list[Account]:
        """Every active account, a page at a time (QuickBooks leaves inactive ones out of a query)."""
        accounts: list[Account] = []
        while True:
            query = f"select * from Account STARTPOSITION {len(accounts) + 1} MAXRESULTS {ACCOUNTS_PER_PAGE}"
            page = self._call("GET", "query", params={"query": query})["QueryResponse"].get("Account", [])
            accounts += [Account(code=str(row["Id"]), name=row.get("FullyQualifiedName") or row["Name"],
                                 type=row.get("AccountType", ""), active=row.get("Active", True),
                                 number=row.get("AcctNum", "")) for row in page]
            if len(page) < ACCOUNTS_PER_PAGE:
                return accounts

    def sync(self, *, since: datetime | None) -> SyncResult:
        receipts = self.configuration.get("posting") == "sales_receipt"
        return journals_post(integration=self.integration, since=since,
                             post=self._post_sales_receipt if receipts else self._post_journal)

    def _post_journal(self, journal: Journal, request_id: str) -> str:
        lines = [
            {"DetailType": "JournalEntryLineDetail", "Amount": float(line.amount), "Description": line.description,
             "JournalEntryLineDetail": {"PostingType": line.posting, "AccountRef": {"value": line.account}}}
            for line in journal.lines
        ]
        body = {"TxnDate": journal.day.isoformat(), "Line": lines,
                "PrivateNote": f"QIIUB POS sales, location {journal.location_code}, {journal.sales_count} sales"}
        created = self._call("POST", "journalentry", params={"requestid": request_id}, json=body)
        return str(created["JournalEntry"]["Id"])

    def _post_sales_receipt(self, journal: Journal, request_id: str) -> str:
        """The day as one sales receipt: its credit side (sales, each IVU) as item lines, the mapped
        targets being QuickBooks items; the money goes to Undeposited Funds, QuickBooks' default."""
        lines = [
            {"DetailType": "SalesItemLineDetail", "Amount": float(line.amount), "Description": line.description,
             "SalesItemLineDetail": {"ItemRef": {"value": line.account}, "Qty": 1, "UnitPrice": float(line.amount),
                                     "TaxCodeRef": {"value": "NON"}}}
            for line in journal.lines if line.posting == "Credit"
        ]
        body = {"TxnDate": journal.day.isoformat(), "Line": lines,
                "PrivateNote": f"QIIUB POS sales, location {journal.location_code}, {journal.sales_count} sales"}
        created = self._call("POST", "salesreceipt", params={"requestid": request_id}, json=body)
        return str(created["SalesReceipt"]["Id"])


def _fault_text(body: dict) -> str:
    """The first error of a QuickBooks fault, whichever casing it came in (a 401 uses lowercase)."""
    fault = body.get("Fault") or body.get("fault") or {}
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0]
    message = first.get("Message") or first.get("message") or ""
    detail = first.get("Detail") or first.get("detail") or ""
    return f"{message} ({detail})" if detail and detail != message else message
