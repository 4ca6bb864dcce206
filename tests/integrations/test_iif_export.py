"""QuickBooks Desktop IIF export: balanced general-journal blocks per location and day, account names
from the mappings, downloaded from the portal and recorded in the sync logs."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from integrations.connectors.iif import HEADER, UnmappedCodes, iif_export
from integrations.connectors.journal import UnbalancedJournal
from integrations.models import IntegrationMapping, IntegrationSyncLog, MerchantIntegration, Status, SyncStatus
from merchants.store.models import Sale
from tests.factories import definition, sell

ACCOUNTS = {("PaymentMethod", "CASH"): "Undeposited Funds", ("PaymentMethod", "CREDIT"): "Card Clearing",
            ("Revenue", "SALES"): "Sales", ("TaxCategory", "IVU_STATE"): "IVU Estatal por Pagar",
            ("TaxCategory", "IVU_MUNICIPAL"): "IVU Municipal por Pagar"}


def _qbd(merchant, accounts=ACCOUNTS):
    integration = MerchantIntegration.objects.create(
        merchant=merchant, definition=definition("accounting.quickbooks_desktop"), status=Status.ACTIVE,
        configuration={"period": "daily"})
    IntegrationMapping.objects.bulk_create([
        IntegrationMapping(merchant_integration=integration, map_group=group, source_code=code, target_code=target)
        for (group, code), target in accounts.items()
    ])
    return integration


def test_each_day_is_one_balanced_general_journal_block_with_the_mapped_account_names(personas):
    merchant = personas.colmado
    qbd = _qbd(merchant)
    san_juan = ZoneInfo("America/Puerto_Rico")
    sell(merchant, at=datetime(2026, 11, 23, 10, tzinfo=san_juan), tenders=[{"kind": "cash", "amount": "11.15"}])
    sell(merchant, at=datetime(2026, 11, 24, 10, tzinfo=san_juan), tenders=[{"kind": "card", "amount": "11.15",
          "card_brand": "visa", "card_last4": "4242", "entry_method": "contactless"}])

    export = iif_export(integration=qbd, start=date(2026, 11, 23), end=date(2026, 11, 24))

    assert export.text.startswith(HEADER) and export.records == 2
    blocks = export.text[len(HEADER):].split("ENDTRNS\n")[:-1]
    assert len(blocks) == 2
    for block in blocks:
        rows = [row.split("\t") for row in block.strip().split("\n")]
        assert rows[0][0] == "TRNS" and all(row[0] == "SPL" for row in rows[1:])
        assert all(row[1] == "GENERAL JOURNAL" for row in rows)
        assert sum(Decimal(row[4]) for row in rows) == 0
    first = [row.split("\t") for row in blocks[0].strip().split("\n")]
    assert first[0][2] == "11/23/2026"
    assert {(row[3], row[4]) for row in first} == {("Undeposited Funds", "11.15"), ("Sales", "-10.00"),
                                                   ("IVU Estatal por Pagar", "-1.05"), ("IVU Municipal por Pagar", "-0.10")}
    log = IntegrationSyncLog.objects.get(merchant_integration=qbd)
    assert (log.status, log.records_pushed) == (SyncStatus.SUCCESS, 2)


def _card_day_and_cash_day(merchant) -> None:
    san_juan = ZoneInfo("America/Puerto_Rico")
    sell(merchant, at=datetime(2026, 11, 23, 10, tzinfo=san_juan), tenders=[{"kind": "cash", "amount": "11.15"}])
    sell(merchant, at=datetime(2026, 11, 24, 10, tzinfo=san_juan), tenders=[{"kind": "card", "amount": "11.15",
         "card_brand": "visa", "card_last4": "4242", "entry_method": "chip"}])


WITHOUT_CARD_ACCOUNT = {key: value for key, value in ACCOUNTS.items() if key != ("PaymentMethod", "CREDIT")}


def test_a_code_without_an_account_is_named_and_only_the_mapped_days_are_exported_when_asked(personas):
    merchant = personas.colmado
    qbd = _qbd(merchant, WITHOUT_CARD_ACCOUNT)
    _card_day_and_cash_day(merchant)

    with pytest.raises(UnmappedCodes, match="map PaymentMethod CREDIT") as refused:
        iif_export(integration=qbd, start=date(2026, 11, 23), end=date(2026, 11, 24))
    assert [(j.location_code, j.day) for j in refused.value.left_out] == [("CR01", date(2026, 11, 24))]
    assert refused.value.exportable == 1
    assert not IntegrationSyncLog.objects.filter(merchant_integration=qbd).exists()  # a question, not an export

    export = iif_export(integration=qbd, start=date(2026, 11, 23), end=date(2026, 11, 24), skip_unmapped=True)

    assert export.records == 1 and "11/23/2026" in export.text and "11/24/2026" not in export.text
    log = IntegrationSyncLog.objects.get(merchant_integration=qbd)
    assert (log.status, log.records_pushed, log.error_count) == (SyncStatus.PARTIAL, 1, 1)
    assert log.summary == "Map PaymentMethod CREDIT to export CR01 2026-11-24."


def test_a_journal_that_does_not_balance_fails_the_export_and_is_logged(personas):
    merchant = personas.colmado
    qbd = _qbd(merchant)
    _card_day_and_cash_day(merchant)
    with schema_context(merchant.schema_name):  # a rounding bug stored a cent too much
        Sale.objects.filter(completed_at__date=date(2026, 11, 24)).update(tax_municipal=Decimal("0.11"))

    with pytest.raises(UnbalancedJournal, match="does not balance"):
        iif_export(integration=qbd, start=date(2026, 11, 23), end=date(2026, 11, 24), skip_unmapped=True)

    log = IntegrationSyncLog.objects.get(merchant_integration=qbd)
    assert (log.status, log.records_pushed) == (SyncStatus.FAILED, 0) and "does not balance" in log.summary


def test_from_the_portal_the_unmapped_codes_are_named_with_a_way_to_map_them_or_download_the_rest(personas):
    merchant = personas.colmado
    qbd = _qbd(merchant, WITHOUT_CARD_ACCOUNT)
    _card_day_and_cash_day(merchant)
    client = Client()
    client.force_login(personas.retail_admin)
    url = f"/portal/m/{merchant.slug}/integrations/{qbd.pk}/export/"

    asked = client.post(url, {"start": "2026-11-23", "end": "2026-11-24"})

    page = asked.content.decode()
    assert asked.status_code == 409 and "PaymentMethod CREDIT" in page and "CR01" in page
    assert f"/portal/m/{merchant.slug}/integrations/{qbd.pk}/mappings/" in page
    assert 'name="skip_unmapped" value="1"' in page and "Download the 1 mapped entry without them" in page
    downloaded = client.post(url, {"start": "2026-11-23", "end": "2026-11-24", "skip_unmapped": "1"})
    assert downloaded.status_code == 200 and "attachment" in downloaded["Content-Disposition"]
    assert b"11/23/2026" in downloaded.content and b"11/24/2026" not in downloaded.content


def test_a_merchant_admin_downloads_the_iif_and_another_merchant_gets_404(personas):
    merchant = personas.colmado
    qbd = _qbd(merchant)
    sell(merchant, at=datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("America/Puerto_Rico")))
    client = Client()
    client.force_login(personas.retail_admin)
    page = client.get(f"/portal/m/{merchant.slug}/integrations/{qbd.pk}/")
    assert page.status_code == 200 and "Download IIF" in page.content.decode()
    url = f"/portal/m/{merchant.slug}/integrations/{qbd.pk}/export/"
    answer = client.post(url, {"start": "2026-11-24", "end": "2026-11-24"})
    assert answer.status_code == 200 and "attachment" in answer["Content-Disposition"]
    assert b"GENERAL JOURNAL\t11/24/2026\tUndeposited Funds\t11.15" in answer.content
    backwards = client.post(url, {"start": "2026-11-24", "end": "2026-11-01"})
    assert backwards.status_code == 302
    other = Client()
    other.force_login(personas.merchant_admin)
    assert other.post(url, {"start": "2026-11-24", "end": "2026-11-24"}).status_code == 404
