"""What the payments pages read: the money trail of a merchant's day (till → processor → books →
IVU, one row per location), the day's card tenders and processor rows with what reconciliation
made of them, and one sale with its tenders and refunds. A fixed number of queries whatever the
number of stores or sales."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context

from integrations.models import Category, MerchantIntegration, PostedEntry, Status, SyncPattern
from merchants.models import Location, Merchant
from merchants.store.models import Sale, Tender, TenderKind
from payments.reconcile import DayFigures, day_figures, day_window
from payments.refunds import left_to_refund
from payments.store.models import (
    DISCREPANCIES,
    Outcome,
    ProcessorPayout,
    ReconciliationDay,
    ReconciliationItem,
    Refund,
    RefundStatus,
)
from taxes.models import IvuFiling

ZERO = Decimal("0.00")
ITEMS_PAGE = 100
TENDER_LABELS = {TenderKind.CASH: _("Cash"), TenderKind.CARD: _("Card"), TenderKind.CHECK: _("Check"),
                 TenderKind.CHARGE_ACCOUNT: _("Charge account")}


@dataclass
class Cause:
    outcome: str
    count: int
    amount: Decimal  # what it puts between the till and the processor

    @property
    def label(self) -> str:
        return Outcome(self.outcome).label


@dataclass
class Journal:
    integration: MerchantIntegration
    vendor_id: str
    sales_count: int


@dataclass
class TrailRow:
    """One location's day: the till, the processor, the books and the IVU collected."""

    code: str
    location: Location | None  # None: processor rows no store could be told for
    sales_count: int = 0
    tenders: dict[str, Decimal] = field(default_factory=dict)  # tender kind → total
    ivu: Decimal = ZERO
    processor: DayFigures = field(default_factory=DayFigures)  # every processor's reconciliation, together
    reconciled: bool = False  # whether a processor reconciled this day
    journals: list[Journal] = field(default_factory=list)

    @property
    def card(self) -> Decimal:
        return self.tenders.get(TenderKind.CARD, ZERO)

    @property
    def tender_totals(self) -> list[tuple[str, Decimal]]:
        return [(TENDER_LABELS.get(kind, kind), self.tenders[kind]) for kind in TENDER_LABELS if kind in self.tenders]

    @property
    def processor_gross(self) -> Decimal:
        return self.processor.settled

    @property
    def fees(self) -> Decimal:
        return self.processor.fees

    @property
    def net(self) -> Decimal:
        return self.processor.net

    @property
    def unreconciled(self) -> Decimal:
        """Card tenders of the day no reconciliation covered (sold after the run, or taken by a
        processor that is not connected)."""
        return self.card - self.processor.tenders if self.reconciled else ZERO

    @property
    def causes(self) -> list[Cause]:
        return [Cause(outcome, count, amount) for outcome, count, amount in self.processor.causes]

    @property
    def difference(self) -> Decimal:
        return self.processor.difference + self.unreconciled

    @property
    def late_sales(self) -> int:
        """Sales that reached the hub after the day's journal was posted (not in it)."""
        return max((self.sales_count - journal.sales_count for journal in self.journals), default=0)


@dataclass
class Processor:
    integration: MerchantIntegration
    day: ReconciliationDay | None
    payouts: list[ProcessorPayout]


@dataclass
class MoneyTrail:
    merchant: Merchant
    day: date
    rows: list[TrailRow]
    processors: list[Processor]
    accounting: list[MerchantIntegration]
    filing: IvuFiling | None
    ivu_month_to_date: Decimal
    tax_integration: MerchantIntegration | None

    @property
    def posting(self) -> list[MerchantIntegration]:
        """The accounting integrations that post a journal per day (not the ones that export a file)."""
        return [integration for integration in self.accounting
                if SyncPattern.SCHEDULED_BATCH in integration.definition.sync_patterns]

    @property
    def exporting(self) -> list[MerchantIntegration]:
        """The accounting integrations whose books are a file the merchant downloads (the IIF)."""
        return [integration for integration in self.accounting
                if SyncPattern.FILE_EXPORT in integration.definition.sync_patterns]

    @property
    def complete(self) -> bool:
        return bool(self.processors) and all(
            processor.day is not None and processor.day.status == "complete" for processor in self.processors)

    @property
    def totals(self) -> dict[str, Decimal]:
        return {name: sum((getattr(row, name) for row in self.rows), ZERO)
                for name in ("card", "processor_gross", "difference", "ivu")}

    @property
    def filing_collected(self) -> Decimal | None:
        return self.filing.state_collected + self.filing.municipal_collected if self.filing else None


def processors_shown(merchant: Merchant):
    """The merchant's processors the pages show: any not disconnected (a paused one's days still count)."""
    return (MerchantIntegration.objects.filter(merchant=merchant, definition__category=Category.PAYMENTS)
            .exclude(status=Status.DISCONNECTED).select_related("definition").order_by("definition__name"))


def money_trail(*, merchant: Merchant, day: date) -> MoneyTrail:
    zone = ZoneInfo(merchant.time_zone)
    start, end = day_window(day, zone)
    locations = {location.code: location for location in merchant.locations.order_by("code")}
    rows = {code: TrailRow(code=code, location=location) for code, location in locations.items()}
    processors = list(processors_shown(merchant))
    processor_ids = [integration.pk for integration in processors]
    month_start, _ = day_window(day.replace(day=1), zone)
    with schema_context(merchant.schema_name):
        sales = Sale.objects.filter(completed_at__gte=start, completed_at__lt=end)
        for code, count, ivu in sales.values_list("location_code").annotate(
                count=Count("id"), ivu=Sum("tax_state") + Sum("tax_municipal")).order_by():
            row = _row(rows, code, locations)
            row.sales_count, row.ivu = count, ivu or ZERO
        for code, kind, total in (Tender.objects.filter(sale__in=sales).values_list("sale__location_code", "kind")
                                  .annotate(total=Sum("amount")).order_by()):
            _row(rows, code, locations).tenders[kind] = total
        days = {done.merchant_integration_id: done for done in ReconciliationDay.objects.filter(
            business_date=day, merchant_integration_id__in=processor_ids)}
        for integration_id in days:
            for (_, code), figures in day_figures(integration_id=integration_id, first=day, last=day).items():
                _row(rows, code, locations).processor.add(figures)
        for row in rows.values():
            row.reconciled = bool(days)
        payouts: dict[int, list[ProcessorPayout]] = {}
        for payout in ProcessorPayout.objects.filter(arrival_date=day, merchant_integration_id__in=processor_ids):
            payouts.setdefault(payout.merchant_integration_id, []).append(payout)
        month_ivu = Sale.objects.filter(completed_at__gte=month_start, completed_at__lt=end).aggregate(
            state=Sum("tax_state"), municipal=Sum("tax_municipal"))
    accounting = list(MerchantIntegration.objects.filter(merchant=merchant, definition__category=Category.ACCOUNTING)
                      .exclude(status=Status.DISCONNECTED).select_related("definition"))
    by_id = {integration.pk: integration for integration in accounting}
    for entry in PostedEntry.objects.filter(merchant_integration__in=accounting, day=day).select_related("location"):
        _row(rows, entry.location.code, locations).journals.append(
            Journal(by_id[entry.merchant_integration_id], entry.vendor_id, entry.sales_count))
    tax = (MerchantIntegration.objects.filter(merchant=merchant, definition__code="tax.suri_ivu")
           .exclude(status=Status.DISCONNECTED).first())
    return MoneyTrail(
        merchant=merchant, day=day, rows=sorted(rows.values(), key=lambda row: (row.location is None, row.code)),
        processors=[Processor(integration, days.get(integration.pk), payouts.get(integration.pk, []))
                    for integration in processors],
        accounting=accounting, filing=IvuFiling.objects.filter(merchant=merchant, period=day.replace(day=1)).first(),
        ivu_month_to_date=(month_ivu["state"] or ZERO) + (month_ivu["municipal"] or ZERO), tax_integration=tax)


def _row(rows: dict[str, TrailRow], code: str, locations: dict[str, Location]) -> TrailRow:
    if code not in rows:
        rows[code] = TrailRow(code=code, location=locations.get(code))
    return rows[code]


@dataclass
class ItemRow:
    """A card tender of the day, or a processor row no tender matched, with what it came to."""

    outcome: str
    location_code: str
    tender: Tender | None
    sale_id: int | None
    processor_ref: str
    card: str  # brand and last 4
    completed_at: object
    pos_amount: Decimal | None
    processor_amount: Decimal | None
    fee: Decimal

    @property
    def label(self) -> str:
        return Outcome(self.outcome).label if self.outcome else ""

    @property
    def discrepancy(self) -> bool:
        return self.outcome in DISCREPANCIES


# What a processor row no tender accounts for comes to; every other outcome is a tender's own.
PROCESSOR_SIDE = (Outcome.PROCESSOR_ONLY, Outcome.CHARGEBACK, Outcome.ADJUSTMENT)


def day_items(*, merchant: Merchant, day: date, location: str = "", outcome: str = "", last4: str = "",
              amount: Decimal | None = None, page: int = 1) -> tuple[list[ItemRow], bool]:
    """The day's card tenders, each with what reconciliation made of it (if it ran), or, for a
    processor-side outcome, the processor rows that came to it; filtered, a page at a time.
    Returns (rows, more)."""
    start, end = day_window(day, ZoneInfo(merchant.time_zone))
    offset = (page - 1) * ITEMS_PAGE
    processor_ids = list(processors_shown(merchant).values_list("pk", flat=True))
    with schema_context(merchant.schema_name):
        items = ReconciliationItem.objects.filter(merchant_integration_id__in=processor_ids)
        if outcome in PROCESSOR_SIDE:
            side = items.filter(business_date=day, outcome=outcome).select_related("settled")
            if location:
                side = side.filter(location_code=location)
            window = list(side.order_by("settled__transacted_at", "pk")[offset:offset + ITEMS_PAGE + 1])
            rows = [ItemRow(item.outcome, item.location_code, None, None, item.settled.processor_ref,
                            f"{item.settled.card_brand} {item.settled.card_last4}".strip(),
                            item.settled.transacted_at, None, item.settled.gross, item.settled.fee)
                    for item in window]
            return rows[:ITEMS_PAGE], len(rows) > ITEMS_PAGE
        tenders = Tender.objects.filter(kind=TenderKind.CARD, sale__completed_at__gte=start,
                                        sale__completed_at__lt=end).select_related("sale")
        if location:
            tenders = tenders.filter(sale__location_code=location)
        if last4:
            tenders = tenders.filter(card_last4=last4)
        if amount is not None:
            tenders = tenders.filter(Q(amount=amount) | Q(amount=-amount))
        if outcome:
            tenders = tenders.filter(pk__in=items.filter(outcome=outcome).values("tender_id"))
        window = list(tenders.order_by("sale__completed_at", "pk")[offset:offset + ITEMS_PAGE + 1])
        own = {item.tender_id: item for item in items.filter(tender__in=[tender.pk for tender in window])
               .exclude(outcome__in=PROCESSOR_SIDE).select_related("settled")}
    rows = []
    for tender in window:
        item = own.get(tender.pk)
        settled = item.settled if item is not None else None
        rows.append(ItemRow(item.outcome if item else "", tender.sale.location_code, tender, tender.sale_id,
                            tender.processor_ref, f"{tender.card_brand} {tender.card_last4}", tender.sale.completed_at,
                            tender.amount, settled.gross if settled else None, settled.fee if settled else ZERO))
    return rows[:ITEMS_PAGE], len(rows) > ITEMS_PAGE


@dataclass
class TenderRefunds:
    tender: Tender
    refunds: list[Refund]
    left: Decimal

    @property
    def pending(self) -> bool:
        return any(refund.status == RefundStatus.PENDING for refund in self.refunds)


def sale_detail(*, merchant: Merchant, sale_id: int) -> tuple[Sale, list[TenderRefunds]] | None:
    with schema_context(merchant.schema_name):
        sale = Sale.objects.filter(pk=sale_id).prefetch_related("lines").first()
        if sale is None:
            return None
        tenders = list(sale.tenders.order_by("pk"))
        refunds: dict[int, list[Refund]] = {}
        for refund in Refund.objects.filter(tender__in=tenders).order_by("requested_at"):
            refunds.setdefault(refund.tender_id, []).append(refund)
        lines = list(sale.lines.all())
    sale.line_list = lines
    return sale, [TenderRefunds(tender, refunds.get(tender.pk, []), left_to_refund(tender, refunds.get(tender.pk, [])))
                  for tender in tenders]
