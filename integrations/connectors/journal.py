"""A location's daily sales journal, the entry every accounting push posts (QuickBooks Online, Xero,
the QuickBooks Desktop IIF export): tenders debited to their deposit accounts, sales and each IVU
jurisdiction credited, through the integration's mappings. Built from totals the database adds up,
so its queries do not grow with the number of sales; debits equal credits to the cent, or it is
never built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum
from django.utils import timezone
from django_tenants.utils import schema_context

from integrations.connectors.base import SyncResult
from integrations.models import IntegrationMapping, MerchantIntegration, PostedEntry
from merchants.models import Location
from merchants.store.models import Sale, Tender
from qiiub.errors import ApplicationError

# Our codes in each mapping group (what a partner template maps to the vendor's accounts).
PAYMENT_METHOD = "PaymentMethod"
TAX_CATEGORY = "TaxCategory"
REVENUE = "Revenue"
TENDER_CODES = {"cash": "CASH", "card": "CREDIT", "check": "CHECK", "charge_account": "CHARGE"}
SALES_CODE = "SALES"
# The mapping groups a journal needs: what an accounting connector that posts it maps.
JOURNAL_MAPPING_GROUPS = (PAYMENT_METHOD, REVENUE, TAX_CATEGORY)
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


# How far back a batch catches up after an outage (older days: post them from the export page).
MAX_CATCH_UP_DAYS = 31


def days_to_post(*, integration: MerchantIntegration, since: datetime | None) -> list[date]:
    """The finished days from the watermark's day to yesterday, in the merchant's time zone."""
    zone = ZoneInfo(integration.merchant.time_zone)
    yesterday = timezone.now().astimezone(zone).date() - timedelta(days=1)
    first = since.astimezone(zone).date() if since else yesterday
    first = max(first, yesterday - timedelta(days=MAX_CATCH_UP_DAYS - 1))
    return [first + timedelta(days=offset) for offset in range((yesterday - first).days + 1)]


def request_id(integration: MerchantIntegration, journal: Journal, location: Location) -> str:
    """Names this exact entry (≤ 50 characters, QuickBooks' limit): the same journal sent twice
    is one entry at the vendor; a journal changed by a mapping fix is a new request."""
    content = "|".join(f"{line.posting}:{line.account}:{line.amount}" for line in journal.lines)
    digest = hashlib.sha256(content.encode()).hexdigest()[:10]
    return f"qiiub-{integration.pk}-{location.pk}-{journal.day:%Y%m%d}-{digest}"


def journals_post(
    *, integration: MerchantIntegration, since: datetime | None, post: Callable[[Journal, str], str]
) -> SyncResult:
    """The accounting batch: each location's journal for each finished day not yet posted, sent
    through `post(journal, request_id) → vendor id`. A day with an unmapped code fails only that
    location and day (named in the result, the run is partial); the watermark stops at the first
    such day so it is posted once the mapping exists. A vendor error stops the run (nothing after
    it is half-sent: each entry is one call), and what was posted before it stays recorded. A
    journal that does not balance is never sent."""
    days = days_to_post(integration=integration, since=since)
    locations = [integration.location] if integration.location_id else list(integration.merchant.locations.order_by("code"))
    posted = set(
        PostedEntry.objects.filter(merchant_integration=integration, day__in=days).values_list("location_id", "day")
    )
    result = SyncResult(direction="push")
    zone = ZoneInfo(integration.merchant.time_zone)
    first_unfinished: date | None = None
    for day in days:
        for location in locations:
            if (location.pk, day) in posted:
                continue
            try:
                journal = daily_journal(integration=integration, location=location, day=day)
            except UnbalancedJournal as error:
                result.record_errors.append(f"{location.code} {day}: {error.message}")
                first_unfinished = first_unfinished or day
                continue
            if journal.unmapped:
                result.unmapped[f"{location.code} {day}"] = list(journal.unmapped)
                first_unfinished = first_unfinished or day
                continue
            if not journal.lines:
                continue  # no sales: nothing to post
            key = request_id(integration, journal, location)
            vendor_id = post(journal, key)
            PostedEntry.objects.create(merchant_integration=integration, location=location, day=day, request_id=key,
                                       vendor_id=vendor_id, sales_count=journal.sales_count)
            result.records_pushed += 1
    resume_at = first_unfinished or (days[-1] + timedelta(days=1) if days else None)
    if resume_at is not None:
        result.new_watermark = datetime.combine(resume_at, time(0), tzinfo=zone)
    return result
