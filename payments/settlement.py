"""The nightly settlement run of one processor integration (its scheduled batch, at 06:00 in the
merchant's time zone, and on demand): fetch what the processor settled for each business date,
keep it, reconcile it against the tills' card tenders, and record each day as complete or, when the
processor could not be read, incomplete (never "all matched"). A day whose unexplained difference
is above the merchant's threshold opens a problem in Issues, which the partner's daily digest lists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from integrations.connectors.base import SyncResult
from integrations.connectors.journal import days_to_post
from integrations.connectors.registry import connector_for
from integrations.models import MerchantIntegration, Problem, ProblemKind, ProblemResolution
from integrations.services.problems import problem_seen, problems_resolve
from payments.gateways.port import PaymentGateway, PaymentStatus, Settlement, retry_transient
from payments.processors import takes_unreferenced
from payments.reconcile import DayFigures, day_figures, match_days
from payments.store.models import (
    DayStatus,
    Outcome,
    ProcessorPayout,
    ReconciliationDay,
    ReconciliationItem,
    SettledKind,
    SettledTransaction,
)
from qiiub.http import ConnectorError
from qiiub.messages import Message

logger = logging.getLogger(__name__)

DEFAULT_ALERT_THRESHOLD = Decimal("1.00")
MAX_STATUS_CHECKS = 100  # till-only tenders a run asks the processor about (voids never settle)
SETTLED_FIELDS = ("business_date", "processor_ref", "original_ref", "kind", "gross", "fee", "net", "transacted_at",
                  "auth_code", "card_last4", "card_brand", "terminal", "payout_ref")


@dataclass
class Reconciled:
    days: list[date]
    incomplete: dict[date, ConnectorError] = field(default_factory=dict)
    figures: dict[tuple[date, str], DayFigures] = field(default_factory=dict)
    rows_fetched: int = 0

    def day(self, day: date) -> DayFigures:
        """The day's figures, all stores together."""
        total = DayFigures()
        for (when, _), figures in self.figures.items():
            if when == day:
                total.add(figures)
        return total


def settlement_store(*, integration: MerchantIntegration, settlement: Settlement) -> int:
    """Keep what the processor listed for a day (a re-read updates rows, never doubles them)."""
    rows = [SettledTransaction(merchant_integration_id=integration.pk, business_date=settlement.day,
                               transaction_ref=row.transaction_ref, processor_ref=row.processor_ref,
                               original_ref=row.original_ref, kind=row.kind, gross=row.gross, fee=row.fee,
                               net=row.net, transacted_at=row.transacted_at, auth_code=row.auth_code,
                               card_last4=row.card_last4, card_brand=row.card_brand, terminal=row.terminal,
                               payout_ref=row.payout_ref) for row in settlement.transactions]
    payouts = [ProcessorPayout(merchant_integration_id=integration.pk, payout_ref=payout.payout_ref,
                               arrival_date=payout.arrival_date, amount=payout.amount) for payout in settlement.payouts]
    with schema_context(integration.merchant.schema_name), transaction.atomic():
        SettledTransaction.objects.bulk_create(rows, batch_size=2000, update_conflicts=True,
                                               unique_fields=["merchant_integration_id", "transaction_ref"],
                                               update_fields=list(SETTLED_FIELDS))
        ProcessorPayout.objects.bulk_create(payouts, update_conflicts=True,
                                            unique_fields=["merchant_integration_id", "payout_ref"],
                                            update_fields=["arrival_date", "amount"])
    return len(rows)


def reconcile(*, integration: MerchantIntegration, days: list[date]) -> Reconciled:
    """Fetch, keep and reconcile these business dates; a day the processor could not give is
    reconciled with what is known and recorded as incomplete, with the reason."""
    connector = connector_for(integration)
    assert isinstance(connector, PaymentGateway), integration.definition.code
    zone = ZoneInfo(integration.merchant.time_zone)
    result = Reconciled(days=sorted(days))
    for day in result.days:
        try:
            settlement = connector.settled(day=day, zone=zone)
        except ConnectorError as error:
            result.incomplete[day] = error
            logger.warning("payments.settlement_unreadable", extra={"integration_id": integration.pk, "day": str(day),
                                                                   "reason": error.reason})
            continue
        result.rows_fetched += settlement_store(integration=integration, settlement=settlement)
    if not result.days:
        return result
    first, last = result.days[0], result.days[-1]
    codes = list(integration.merchant.locations.values_list("code", flat=True))
    unreferenced = takes_unreferenced(integration)

    def match() -> None:
        with schema_context(integration.merchant.schema_name), transaction.atomic():
            match_days(integration=integration, gateway=type(connector), first=first, last=last, location_codes=codes,
                       unreferenced=unreferenced)

    match()
    if not result.incomplete and _voids_found(connector, integration, first, last):
        match()
    with schema_context(integration.merchant.schema_name), transaction.atomic():
        result.figures = day_figures(integration_id=integration.pk, first=first, last=last)
        now = timezone.now()
        ReconciliationDay.objects.bulk_create([
            ReconciliationDay(merchant_integration_id=integration.pk, business_date=day, reconciled_at=now,
                              status=DayStatus.INCOMPLETE if day in result.incomplete else DayStatus.COMPLETE,
                              error=result.incomplete[day].stored() if day in result.incomplete else {},
                              summary=_summary(result, day))
            for day in result.days
        ], update_conflicts=True, unique_fields=["merchant_integration_id", "business_date"],
            update_fields=["status", "reconciled_at", "error", "summary"])
    _alert(integration, result)
    return result


def _voids_found(connector: PaymentGateway, integration: MerchantIntegration, first: date, last: date) -> int:
    """A payment voided at the processor never settles, so it first looks like a sale at the till
    only: ask the processor about those tenders (at most MAX_STATUS_CHECKS a run) and keep each void
    it confirms as a settled row of its own, which the next match pairs with its tender."""
    with schema_context(integration.merchant.schema_name):
        till_only = list(ReconciliationItem.objects.filter(
            merchant_integration_id=integration.pk, business_date__range=(first, last), outcome=Outcome.POS_ONLY)
            .exclude(tender__processor_ref="").values_list("tender__processor_ref", "business_date",
                                                           "tender__sale__completed_at")[:MAX_STATUS_CHECKS])
    voids = []
    for reference, day, sold_at in till_only:
        try:
            voided = connector.status(processor_ref=reference).status == PaymentStatus.VOIDED
        except ConnectorError as error:
            if retry_transient(error):
                break  # the processor is not answering now: the rest stay at the till only until the next run
            continue  # the processor does not know it: at the till only it is
        if voided:
            voids.append(SettledTransaction(
                merchant_integration_id=integration.pk, business_date=day, transaction_ref=f"void:{reference}",
                processor_ref=reference, kind=SettledKind.VOID, gross=Decimal("0.00"), fee=Decimal("0.00"),
                net=Decimal("0.00"), transacted_at=sold_at))
    if voids:
        with schema_context(integration.merchant.schema_name):
            SettledTransaction.objects.bulk_create(voids, ignore_conflicts=True)
    return len(voids)


def _summary(result: Reconciled, day: date) -> dict:
    figures = result.day(day)
    return {"outcomes": {outcome: [count, str(pos), str(processor)]
                         for outcome, (count, pos, processor) in figures.outcomes.items()},
            "difference": str(figures.difference), "unexplained": str(figures.unexplained)}


def alert_threshold(integration: MerchantIntegration) -> Decimal:
    value = (integration.configuration or {}).get("alert_threshold")
    return DEFAULT_ALERT_THRESHOLD if value is None else Decimal(str(value))


def _alert(integration: MerchantIntegration, result: Reconciled) -> None:
    """Open (or see again) the settlement problem for the latest day whose differences, counted
    whatever their sign, exceed the merchant's threshold; close it once the day it names has been
    reconciled again within it. A day the processor could not give is not judged: its run failed,
    and that failure is its own problem."""
    threshold = alert_threshold(integration)
    judged = [day for day in result.days if day not in result.incomplete]
    above = [day for day in judged if result.day(day).unexplained > threshold]
    if above:
        day = above[-1]
        problem_seen(integration=integration, kind=ProblemKind.SETTLEMENT, cause=Message(
            "settlement_differences", {"day": day.isoformat(), "difference": str(result.day(day).unexplained),
                                       "days": len(above)}))
        return
    named = (Problem.objects.filter(merchant_integration=integration, kind=ProblemKind.SETTLEMENT,
                                    resolved_at__isnull=True).values_list("cause", flat=True).first() or {})
    if named.get("params", {}).get("day") in {day.isoformat() for day in judged}:
        problems_resolve(integrations=[integration], kinds=[ProblemKind.SETTLEMENT],
                         resolution=ProblemResolution.RECONCILED)


def settlement_sync(*, integration: MerchantIntegration, since: datetime | None) -> SyncResult:
    """The scheduled batch: the finished days since the watermark, and the day before them again
    (its late settlements: a batch closed after midnight). A processor that cannot be read fails
    the run, so it is retried and counted like any failing sync; the days it reached are kept."""
    days = days_to_post(integration=integration, since=since)
    if days:
        days.insert(0, days[0] - timedelta(days=1))
    result = reconcile(integration=integration, days=days)
    if result.incomplete:
        raise next(iter(result.incomplete.values()))
    zone = ZoneInfo(integration.merchant.time_zone)
    sync = SyncResult(direction="pull", records_pulled=result.rows_fetched)
    if days:
        sync.new_watermark = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=zone)
    return sync
