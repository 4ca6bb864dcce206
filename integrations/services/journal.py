"""A location's daily sales journal, the entry every accounting push posts (QuickBooks Online, Xero,
the QuickBooks Desktop IIF export): tenders debited to their deposit accounts, sales and each IVU
jurisdiction credited, through the integration's mappings. Built from totals the database adds up,
so its queries do not grow with the number of sales; debits equal credits to the cent, or it is
never built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum
from django_tenants.utils import schema_context

from integrations.models import IntegrationMapping, MerchantIntegration
from merchants.models import Location
from merchants.store.models import Sale, Tender
from qiiub.errors import ApplicationError

# Our codes in each mapping group (what a partner template maps to the vendor's accounts).
PAYMENT_METHOD = "PaymentMethod"
TAX_CATEGORY = "TaxCategory"
REVENUE = "Revenue"
TENDER_CODES = {"cash": "CASH", "card": "CREDIT", "check": "CHECK", "charge_account": "CHARGE"}
SALES_CODE = "SALES"
TAX_CODES = {"tax_state": "IVU_STATE", "tax_municipal": "IVU_MUNICIPAL"}


class UnbalancedJournal(ApplicationError):
    code = "unbalanced_journal"
    http_status = 500


@dataclass(frozen=True)
class JournalLine:
    posting: str  # "Debit" or "Credit"
    account: str
    amount: Decimal
    description: str


@dataclass
class Journal:
    day: date
    location_code: str
    sales_count: int
    lines: list[JournalLine] = field(default_factory=list)
    # Codes with no mapping, as "group code", each naming what to map.
    unmapped: list[str] = field(default_factory=list)

    def total(self, posting: str) -> Decimal:
        return sum((line.amount for line in self.lines if line.posting == posting), Decimal("0"))

    @property
    def postable(self) -> bool:
        return bool(self.lines) and not self.unmapped


def _day_window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def daily_journal(*, integration: MerchantIntegration, location: Location, day: date) -> Journal:
    """The journal of `location`'s sales on `day` (midnight to midnight in the merchant's time zone)."""
    start, end = _day_window(day, ZoneInfo(integration.merchant.time_zone))
    with schema_context(integration.merchant.schema_name):
        sales = Sale.objects.filter(location_code=location.code, completed_at__gte=start, completed_at__lt=end)
        totals = sales.aggregate(count=Count("id"), subtotal=Sum("subtotal"), tax_state=Sum("tax_state"),
                                 tax_municipal=Sum("tax_municipal"))
        tendered = dict(
            Tender.objects.filter(sale__in=sales).values_list("kind").annotate(total=Sum("amount")).order_by("kind")
        )
    accounts = {
        (group, code): target
        for group, code, target in IntegrationMapping.objects.filter(merchant_integration=integration)
        .values_list("map_group", "source_code", "target_code")
    }
    journal = Journal(day=day, location_code=location.code, sales_count=totals["count"])

    def line(posting: str, group: str, code: str, amount: Decimal | None, description: str) -> None:
        if not amount:
            return
        if (account := accounts.get((group, code))) is None:
            journal.unmapped.append(f"{group} {code}")
            return
        journal.lines.append(JournalLine(posting, account, amount, description))

    for kind, amount in tendered.items():
        line("Debit", PAYMENT_METHOD, TENDER_CODES.get(kind, kind.upper()), amount, f"{kind} tenders")
    line("Credit", REVENUE, SALES_CODE, totals["subtotal"], "Sales")
    for column, code in TAX_CODES.items():
        line("Credit", TAX_CATEGORY, code, totals[column], f"IVU {code.split('_')[1].lower()}")
    if not journal.unmapped and journal.total("Debit") != journal.total("Credit"):
        # Sales are checked on the way in (tenders = total = subtotal + IVU), so this is a bug.
        raise UnbalancedJournal(
            f"The {day} journal of {location.code} does not balance: debits {journal.total('Debit')}, "
            f"credits {journal.total('Credit')}. Nothing was sent."
        )
    return journal
