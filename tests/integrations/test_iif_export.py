"""QuickBooks Desktop IIF export: balanced general-journal blocks per location and day, account names
from the mappings, downloaded from the portal and recorded in the sync logs."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from integrations.models import IntegrationMapping, IntegrationSyncLog, MerchantIntegration, Status, SyncStatus
from integrations.services.iif import HEADER, iif_export
from qiiub.errors import ValidationFailed
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


def test_a_code_without_an_account_refuses_the_export_naming_it(personas):
    merchant = personas.colmado
    qbd = _qbd(merchant, {key: value for key, value in ACCOUNTS.items() if key != ("PaymentMethod", "CREDIT")})
    sell(merchant, at=datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("America/Puerto_Rico")), tenders=[{"kind": "card",
         "amount": "11.15", "card_brand": "visa", "card_last4": "4242", "entry_method": "chip"}])
    with pytest.raises(ValidationFailed, match="map PaymentMethod CREDIT"):
        iif_export(integration=qbd, start=date(2026, 11, 24), end=date(2026, 11, 24))
    assert IntegrationSyncLog.objects.get(merchant_integration=qbd).status == SyncStatus.FAILED


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
