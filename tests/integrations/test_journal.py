"""The daily sales journal: balanced to the cent from the day's totals, mapped accounts, missing
mappings named, queries that do not grow with the number of sales."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.connectors.journal import daily_journal
from integrations.models import IntegrationMapping, MerchantIntegration, Status
from tests.factories import definition, sell

SAN_JUAN = ZoneInfo("America/Puerto_Rico")
DAY = date(2026, 11, 24)
MAPPINGS = {("PaymentMethod", "CASH"): "1000", ("PaymentMethod", "CREDIT"): "1100", ("PaymentMethod", "CHECK"): "1010",
            ("Revenue", "SALES"): "4000", ("TaxCategory", "IVU_STATE"): "2100",
            ("TaxCategory", "IVU_MUNICIPAL"): "2110"}


def _qbo(merchant, mappings=MAPPINGS):
    integration = MerchantIntegration.objects.create(
        merchant=merchant, definition=definition("accounting.quickbooks_online"), status=Status.ACTIVE)
    IntegrationMapping.objects.bulk_create([
        IntegrationMapping(merchant_integration=integration, map_group=group, source_code=code, target_code=target)
        for (group, code), target in mappings.items()
    ])
    return integration


def test_the_days_journal_debits_each_tender_and_credits_sales_and_each_ivu_to_the_cent(personas):
    merchant, location = personas.colmado, personas.colmado.locations.first()
    qbo = _qbo(merchant)
    late_evening = datetime(2026, 11, 24, 23, 30, tzinfo=SAN_JUAN)  # 03:30 UTC the next day: still the 24th here
    sell(merchant, location=location, at=late_evening, tenders=[{"kind": "cash", "amount": "11.15"}])
    sell(merchant, location=location, at=late_evening - timedelta(hours=3), lines=[("standard", "20.01")], state="2.10",
         municipal="0.20",
          tenders=[{"kind": "card", "amount": "12.31", "card_brand": "visa", "card_last4": "4242",
                    "entry_method": "chip"}, {"kind": "check", "amount": "10.00", "reference": "1043"}])
    sell(merchant, location=location, at=datetime(2026, 11, 25, 0, 5, tzinfo=SAN_JUAN), tenders=[{"kind": "cash", "amount": "11.15"}])

    journal = daily_journal(integration=qbo, location=location, day=DAY)

    assert journal.postable and journal.sales_count == 2
    assert {(line.posting, line.account, str(line.amount)) for line in journal.lines} == {
        ("Debit", "1000", "11.15"), ("Debit", "1100", "12.31"), ("Debit", "1010", "10.00"),
        ("Credit", "4000", "30.01"), ("Credit", "2100", "3.15"), ("Credit", "2110", "0.30")}
    assert journal.total("Debit") == journal.total("Credit")


def test_a_missing_mapping_names_the_code_to_map_and_the_journal_is_not_postable(personas):
    merchant, location = personas.colmado, personas.colmado.locations.first()
    qbo = _qbo(merchant, {key: value for key, value in MAPPINGS.items() if key != ("PaymentMethod", "CHECK")})
    sell(merchant, location=location, at=datetime(2026, 11, 24, 12, 0, tzinfo=SAN_JUAN),
          tenders=[{"kind": "check", "amount": "11.15", "reference": "77"}])

    journal = daily_journal(integration=qbo, location=location, day=DAY)

    assert not journal.postable and journal.unmapped == ["PaymentMethod CHECK"]


def test_the_journal_costs_the_same_queries_for_five_sales_or_fifty(personas):
    merchant, location = personas.colmado, personas.colmado.locations.first()
    qbo = _qbo(merchant)
    counts = []
    for sales in (5, 45):
        for minute in range(sales):
            sell(merchant, location=location, at=datetime(2026, 11, 24, 9, 0, tzinfo=SAN_JUAN) + timedelta(minutes=minute),
                  tenders=[{"kind": "cash", "amount": "11.15"}])
        with CaptureQueriesContext(connection) as queries:
            journal = daily_journal(integration=qbo, location=location, day=DAY)
        counts.append(len(queries))
    assert journal.sales_count == 50 and counts[0] == counts[1]
