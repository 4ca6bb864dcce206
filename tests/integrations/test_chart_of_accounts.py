"""Mapping targets from the vendor's chart of accounts (QuickBooks Online, Xero): read through the
connector from the fakes, cached, refreshed on demand; a target that is not an active account is
refused by name; a vendor that cannot be reached is said, not a dead end; and the codes recent
sales use without a mapping."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from integrations.models import IntegrationMapping, MerchantIntegration
from integrations.services import mappings as mapping_service
from qiiub.errors import NotAllowed, ValidationFailed
from qiiub.vault import get_vault
from tests.factories import (
    QUICKBOOKS_ACCOUNTS,
    definition,
    quickbooks_connected,
    quickbooks_enabled,
    sell,
    xero_connected,
)

SAN_JUAN = ZoneInfo("America/Puerto_Rico")
CHECK = {"kind": "check", "amount": "11.15", "reference": "1043"}
WITHOUT_CHECKS = {key: value for key, value in QUICKBOOKS_ACCOUNTS.items() if key != ("PaymentMethod", "CHECK")}


def _grant(integration) -> dict:
    return get_vault().get(MerchantIntegration.objects.get(pk=integration.pk).credentials_vault_key)


def _days_ago_at(days: int, hour: int) -> datetime:
    return datetime.combine(timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=days), time(hour),
                            tzinfo=SAN_JUAN)


def _stored(integration) -> list[tuple[str, str, str]]:
    return sorted(IntegrationMapping.objects.filter(merchant_integration=integration)
                  .values_list("map_group", "source_code", "target_code"))


# --- reading the chart ---

def test_quickbooks_chart_lists_its_active_accounts_with_number_name_and_type(personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan)

    accounts = {account.code: account for account in mapping_service.chart_of_accounts(qbo)}

    assert accounts["36"].label == "1010 — Cash on hand" and accounts["36"].type == "Bank"
    assert accounts["79"].type == "Income" and accounts["80"].type == "Other Current Liability"
    assert "40" not in accounts  # inactive: QuickBooks leaves it out of a query
    assert all(account.active for account in accounts.values())


def test_a_quickbooks_chart_longer_than_a_query_page_is_read_whole(personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan)
    chart = {str(number): f"Account {number}" for number in range(100, 1105)}  # 1,005 accounts
    quickbooks_fake.control(accounts={_grant(qbo)["company_id"]: chart})
    calls = quickbooks_fake.posted()["accounting_requests"]

    accounts = mapping_service.chart_of_accounts(qbo)

    assert sorted(account.code for account in accounts) == sorted(chart)
    assert quickbooks_fake.posted()["accounting_requests"] == calls + 2  # two pages of at most 1,000


def test_xero_chart_lists_coded_accounts_and_marks_archived_ones_inactive(personas, xero_fake):
    xero = xero_connected(personas.colmado)

    accounts = {account.code: account for account in mapping_service.chart_of_accounts(xero)}

    assert accounts["090"].label == "090 — Cash on hand" and accounts["090"].type == "BANK"
    assert accounts["200"].type == "REVENUE" and accounts["200"].active
    assert not accounts["094"].active  # archived


def test_the_chart_is_read_once_then_from_the_cache_until_refreshed(personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan)
    first = mapping_service.chart_of_accounts(qbo)
    calls = quickbooks_fake.posted()["accounting_requests"]
    quickbooks_fake.control(accounts={_grant(qbo)["company_id"]: {"36": "Cash on hand", "90": "Petty cash"}})

    cached = mapping_service.chart_of_accounts(qbo)
    assert cached == first and quickbooks_fake.posted()["accounting_requests"] == calls

    refreshed = mapping_service.chart_refresh(qbo)
    assert [account.code for account in refreshed] == ["36", "90"]
    assert mapping_service.chart_of_accounts(qbo) == refreshed  # the refreshed chart is what is cached


@pytest.mark.security
def test_the_fakes_check_the_token_on_the_chart_like_on_their_other_endpoints(personas, quickbooks_fake, xero_fake):
    qbo, xero = quickbooks_connected(personas.san_juan), xero_connected(personas.colmado)
    realm, tenant = _grant(qbo)["company_id"], _grant(xero)["company_id"]

    quickbooks = requests.get(f"{settings.QUICKBOOKS['api_url']}/company/{realm}/query",
                              params={"query": "select * from Account", "minorversion": "75"},
                              headers={"Authorization": "Bearer not-a-token", "Accept": "application/json"}, timeout=5)
    xero_answer = requests.get(f"{settings.XERO['api_url']}/Accounts", timeout=5,
                               headers={"Authorization": f"Bearer {_grant(xero)['access_token']}",
                                        "Accept": "application/json"})  # no xero-tenant-id
    xero_foreign = requests.get(f"{settings.XERO['api_url']}/Accounts", timeout=5,
                                headers={"Authorization": "Bearer not-a-token", "xero-tenant-id": tenant,
                                         "Accept": "application/json"})

    assert quickbooks.status_code == 401 and "Account" not in quickbooks.text
    assert xero_answer.status_code == 403 and xero_foreign.status_code == 401


# --- refusing what is not an account ---

@pytest.mark.parametrize("target", ["999", "40", "1010"])  # unknown, inactive, an AcctNum rather than the account
def test_a_quickbooks_target_that_is_not_an_active_account_is_refused_by_name_and_nothing_stored(
        personas, quickbooks_fake, target):
    qbo = quickbooks_connected(personas.san_juan, WITHOUT_CHECKS)
    before = _stored(qbo)

    with pytest.raises(ValidationFailed) as refused:
        mapping_service.mapping_set(integration=qbo, group="PaymentMethod", code="CHECK", target=target, by=None)

    assert refused.value.code == "not_an_account"
    assert refused.value.message.startswith(f"Payment method CHECK: {target} is not an active account")
    assert "QuickBooks Online" in refused.value.message and _stored(qbo) == before


def test_a_xero_archived_account_is_refused_and_an_active_one_is_stored(personas, xero_fake):
    xero = xero_connected(personas.colmado)
    before = _stored(xero)

    with pytest.raises(ValidationFailed, match="Tax \\(IVU\\) IVU_STATE: 094 is not an active account"):
        mapping_service.mapping_set(integration=xero, group="TaxCategory", code="IVU_STATE", target="094", by=None)
    assert _stored(xero) == before

    row = mapping_service.mapping_set(integration=xero, group="PaymentMethod", code="CASH", target="091", by=None)
    assert row.target == "091" and ("PaymentMethod", "CASH", "091") in _stored(xero)


def test_clearing_a_mapping_needs_no_chart(personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan)
    quickbooks_fake.control(fail={"status": 503, "count": 5})

    mapping_service.mapping_set(integration=qbo, group="PaymentMethod", code="CHECK", target="", by=None)

    assert ("PaymentMethod", "CHECK") not in {(group, code) for group, code, _ in _stored(qbo)}


def test_a_vendor_that_cannot_be_reached_is_said_the_mappings_stay_in_view_and_nothing_is_stored(
        personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan, WITHOUT_CHECKS)
    before = _stored(qbo)
    quickbooks_fake.control(fail={"status": 503, "count": 5})

    editor = mapping_service.mapping_editor(qbo)
    with pytest.raises(NotAllowed, match="Payment method CHECK was not saved: the chart of accounts of QuickBooks "
                                         "Online could not be read") as refused:
        mapping_service.mapping_set(integration=qbo, group="PaymentMethod", code="CHECK", target="38", by=None)

    assert editor.chart_error and editor.connected and refused.value.code == "chart_unavailable"
    assert {(row.group, row.code): row.target for row in editor.rows}[("PaymentMethod", "CASH")] == "36"
    assert all(row.choices is None for row in editor.rows) and _stored(qbo) == before


def test_an_integration_not_yet_connected_asks_to_connect_first(personas, quickbooks_fake):
    qbo = quickbooks_enabled(personas.san_juan, WITHOUT_CHECKS)
    before = _stored(qbo)

    editor = mapping_service.mapping_editor(qbo)
    with pytest.raises(NotAllowed, match="Connect QuickBooks Online first"):
        mapping_service.mapping_set(integration=qbo, group="PaymentMethod", code="CHECK", target="38", by=None)

    assert not editor.connected and "Connect QuickBooks Online first" in editor.chart_error
    assert _stored(qbo) == before and quickbooks_fake.posted()["accounting_requests"] == 0


def test_without_a_chart_the_target_stays_free_text(personas, quickbooks_fake):
    iif = MerchantIntegration.objects.create(merchant=personas.san_juan,
                                             definition=definition("accounting.quickbooks_desktop"))
    receipts = quickbooks_connected(personas.pharmacies[1])
    MerchantIntegration.objects.filter(pk=receipts.pk).update(configuration={"posting": "sales_receipt"})
    receipts.refresh_from_db()

    mapping_service.mapping_set(integration=iif, group="PaymentMethod", code="CHECK", target="Check clearing", by=None)
    mapping_service.mapping_set(integration=receipts, group="Revenue", code="SALES", target="4", by=None)  # an item

    assert not mapping_service.picks_from_chart(iif) and not mapping_service.picks_from_chart(receipts)
    assert ("PaymentMethod", "CHECK", "Check clearing") in _stored(iif)
    assert ("Revenue", "SALES", "4") in _stored(receipts)


# --- the picker ---

def test_each_row_offers_the_accounts_that_suit_its_group_first_and_the_others_after(personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan)

    rows = {(row.group, row.code): row for row in mapping_service.mapping_editor(qbo).rows}

    cash, sales, ivu = rows[("PaymentMethod", "CASH")], rows[("Revenue", "SALES")], rows[("TaxCategory", "IVU_STATE")]
    assert [a.code for a in cash.choices.suited] == ["1", "35", "36", "37", "38", "39"]
    assert {a.code for a in cash.choices.others} == {"60", "79", "80", "81"}
    assert [a.code for a in sales.choices.suited] == ["79"] and [a.code for a in ivu.choices.suited] == ["80", "81"]
    assert cash.choices.current.name == "Cash on hand" and not cash.off_chart
    assert all("40" not in {a.code for a in row.choices.suited + row.choices.others} for row in rows.values())


def test_a_mapping_to_an_account_gone_from_the_chart_is_flagged_in_its_row(personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan, {**QUICKBOOKS_ACCOUNTS, ("PaymentMethod", "CHECK"): "40"})

    rows = {(row.group, row.code): row for row in mapping_service.mapping_editor(qbo).rows}

    assert rows[("PaymentMethod", "CHECK")].off_chart and not rows[("PaymentMethod", "CASH")].off_chart


# --- the simulators refuse journal lines to accounts that do not exist ---

def test_quickbooks_refuses_a_journal_line_to_an_inactive_account(personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan)
    grant = _grant(qbo)
    line = {"DetailType": "JournalEntryLineDetail", "Amount": 10.0,
            "JournalEntryLineDetail": {"PostingType": "Debit", "AccountRef": {"value": "40"}}}
    other = {**line, "JournalEntryLineDetail": {"PostingType": "Credit", "AccountRef": {"value": "79"}}}

    answer = requests.post(f"{settings.QUICKBOOKS['api_url']}/company/{grant['company_id']}/journalentry",
                           params={"minorversion": "75"}, json={"Line": [line, other]}, timeout=5,
                           headers={"Authorization": f"Bearer {grant['access_token']}", "Accept": "application/json"})

    assert answer.status_code == 200 and "has been deleted" in answer.json()["Fault"]["Error"][0]["Detail"]
    assert quickbooks_fake.posted()["journal_entries"] == []


def test_xero_refuses_a_journal_line_to_an_archived_account(personas, xero_fake):
    xero = xero_connected(personas.colmado)
    grant = _grant(xero)
    journal = {"Narration": "x", "JournalLines": [{"LineAmount": 10, "AccountCode": "094"},
                                                  {"LineAmount": -10, "AccountCode": "200"}]}

    answer = requests.put(f"{settings.XERO['api_url']}/ManualJournals", json={"ManualJournals": [journal]}, timeout=5,
                          headers={"Authorization": f"Bearer {grant['access_token']}", "Accept": "application/json",
                                   "xero-tenant-id": grant["company_id"]})

    assert answer.status_code == 400 and "'094' has been archived" in answer.text
    assert xero_fake.posted()["manual_journals"] == []


# --- codes in use without a mapping ---

def test_unmapped_codes_in_use_names_what_recent_sales_need(personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant, {key: value for key, value in WITHOUT_CHECKS.items()
                                          if key != ("TaxCategory", "IVU_MUNICIPAL")})
    assert mapping_service.unmapped_codes_in_use(qbo) == []  # no sales yet

    sell(merchant, at=_days_ago_at(40, 10), tenders=[CHECK])  # too old to count
    sell(merchant, at=_days_ago_at(40, 11), state="1.05", municipal="0.00",
         tenders=[{"kind": "cash", "amount": "11.05"}])
    assert mapping_service.unmapped_codes_in_use(qbo) == []

    sell(merchant, at=_days_ago_at(2, 10), tenders=[CHECK])
    assert mapping_service.unmapped_codes_in_use(qbo) == [("PaymentMethod", "CHECK"), ("TaxCategory", "IVU_MUNICIPAL")]


def test_unmapped_codes_in_use_is_empty_for_an_integration_without_mappings(personas):
    shopify = MerchantIntegration.objects.create(merchant=personas.san_juan, definition=definition("ecommerce.shopify"))
    assert mapping_service.unmapped_codes_in_use(shopify) == []


# --- the editor's pages ---

def _url(name, integration):
    return reverse(f"portal:{name}", args=[integration.merchant.slug, integration.pk])


def test_the_editor_shows_a_picker_per_row_and_refresh_reads_the_chart_again(client, personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan, WITHOUT_CHECKS)
    client.force_login(personas.merchant_admin)

    page = client.get(_url("mappings", qbo)).content.decode()
    quickbooks_fake.control(accounts={_grant(qbo)["company_id"]: {"38": "Check clearing", "91": "Lockbox"}})
    refreshed = client.post(_url("mappings", qbo), {"action": "refresh"}, follow=True).content.decode()
    unknown = client.post(_url("mappings", qbo), {"action": "delete-everything"})

    row = page[page.index('id="mapping-PaymentMethod-CHECK"'):]
    row = row[:row.index("</tr>")]
    assert '<select id="target-PaymentMethod-CHECK" name="target"' in row and "1030 — Check clearing" in row
    assert "Refresh accounts" in page and "Lockbox" not in page
    assert "2 accounts read from QuickBooks Online." in refreshed and "91 — Lockbox" in refreshed
    assert unknown.status_code == 400


def test_an_unreachable_vendor_shows_the_mappings_with_a_retry(client, personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan)
    client.force_login(personas.merchant_admin)
    quickbooks_fake.control(fail={"status": 503, "count": 5})

    page = client.get(_url("mappings", qbo)).content.decode()

    assert 'name="target"' not in page and 'id="chart-unavailable"' in page and "Try again" in page
    assert "<code>36</code>" in page  # the current mapping, still in view


def test_an_htmx_save_of_a_non_account_answers_its_row_with_the_error_and_stores_nothing(
        client, personas, quickbooks_fake):
    qbo = quickbooks_connected(personas.san_juan, WITHOUT_CHECKS)
    client.force_login(personas.merchant_admin)
    before = _stored(qbo)

    refused = client.post(_url("mapping-set", qbo), {"group": "PaymentMethod", "code": "CHECK", "target": "999"},
                          HTTP_HX_REQUEST="true")
    saved = client.post(_url("mapping-set", qbo), {"group": "PaymentMethod", "code": "CASH", "target": "35"},
                        HTTP_HX_REQUEST="true")

    body = refused.content.decode()
    assert refused.status_code == 422 and "Payment method CHECK: 999 is not an active account" in body
    assert body.lstrip().startswith("<tr") and "<select" in body
    assert saved.status_code == 200 and '<option value="35" selected>' in saved.content.decode()
    assert _stored(qbo) == sorted([*[(g, c, t) for g, c, t in before if c != "CASH"], ("PaymentMethod", "CASH", "35")])
