"""The monthly IVU return: taxable and exempt sales, IVU due by each day's rates (data with effective
dates), checked against what the tills collected, and downloaded from the SURI integration's page."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.test import Client

from integrations.models import IntegrationSyncLog, MerchantIntegration, Status, SyncStatus
from taxes.ivu import ivu_return, ivu_rule_save
from taxes.models import IvuRate, Jurisdiction
from tests.factories import definition, sell

SAN_JUAN = ZoneInfo("America/Puerto_Rico")


def test_taxable_and_exempt_sales_and_the_ivu_due_by_each_days_rates(personas):
    pharmacy = personas.pharmacies[2]
    sell(pharmacy, at=datetime(2026, 10, 3, 10, tzinfo=SAN_JUAN), lines=[("standard", "100.00"), ("prescription", "40.00")],
         state="10.50", municipal="1.00")
    sell(pharmacy, at=datetime(2026, 10, 31, 23, 30, tzinfo=SAN_JUAN), lines=[("standard", "20.00")], state="2.10", municipal="0.20")
    sell(pharmacy, at=datetime(2026, 11, 1, 0, 10, tzinfo=SAN_JUAN), lines=[("standard", "999.00")], state="104.90", municipal="9.99")

    result = ivu_return(merchant=pharmacy, year=2026, month=10)

    assert (result.sales_count, result.taxable_sales, result.exempt_sales) == (2, Decimal("120.00"), Decimal("40.00"))
    assert result.due == {Jurisdiction.STATE: Decimal("12.60"), Jurisdiction.MUNICIPAL: Decimal("1.20")}
    assert result.collected == result.due and result.problems == []


def test_a_rate_change_applies_from_its_day_and_a_till_on_the_old_rate_is_flagged(personas):
    pharmacy = personas.pharmacies[2]
    in_force = IvuRate.objects.get(jurisdiction=Jurisdiction.STATE, effective_to=None)
    in_force.effective_to = date(2026, 10, 14)
    ivu_rule_save(rule=in_force)
    ivu_rule_save(rule=IvuRate(jurisdiction=Jurisdiction.STATE, rate=Decimal("0.07"), effective_from=date(2026, 10, 15)))
    sell(pharmacy, at=datetime(2026, 10, 10, 12, tzinfo=SAN_JUAN), lines=[("standard", "100.00")], state="10.50", municipal="1.00")
    sell(pharmacy, at=datetime(2026, 10, 20, 12, tzinfo=SAN_JUAN), lines=[("standard", "100.00")], state="10.50", municipal="1.00")

    result = ivu_return(merchant=pharmacy, year=2026, month=10)

    assert result.due[Jurisdiction.STATE] == Decimal("17.50")  # 10.50 + 7.00
    assert len(result.problems) == 1 and "collected 21.00 but 17.50 is due" in result.problems[0]


def test_the_merchant_admin_downloads_the_return_and_the_export_is_logged(personas):
    pharmacy = personas.pharmacies[0]
    suri = MerchantIntegration.objects.create(merchant=pharmacy, definition=definition("tax.suri_ivu"),
                                              status=Status.ACTIVE)
    sell(pharmacy, at=datetime(2026, 10, 3, 10, tzinfo=SAN_JUAN), lines=[("standard", "10.00")], state="1.05", municipal="0.10")
    client = Client()
    client.force_login(personas.merchant_admin)

    answer = client.post(f"/portal/m/{pharmacy.slug}/integrations/{suri.pk}/export/",
                         {"start": "2026-10-01", "end": "2026-10-31"})

    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    assert answer.content.decode().splitlines()[1].startswith("2026-10,Farmacia San Juan,1,10.00,0.00,1.05,0.10,1.05,0.10")
    assert IntegrationSyncLog.objects.get(merchant_integration=suri).status == SyncStatus.SUCCESS
    spanning = client.post(f"/portal/m/{pharmacy.slug}/integrations/{suri.pk}/export/",
                           {"start": "2026-10-01", "end": "2026-11-30"})
    assert spanning.status_code == 302 and IntegrationSyncLog.objects.filter(merchant_integration=suri).count() == 1
