"""Reads for the portal and admin: QuerySets and small summaries, no writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery
from integrations.connectors.registry import connects_with_oauth
from integrations.models import (
    DefinitionStatus,
    IntegrationDefinition,
    IntegrationSyncLog,
    MerchantIntegration,
    PausedReason,
    Scope,
    Status,
    SyncStatus,
)
from merchants.models import Merchant


def catalog_for_merchant(merchant: Merchant) -> QuerySet[IntegrationDefinition]:
    """What this merchant may see: its modules and vertical decide; deprecated is hidden."""
    module_ids = list(merchant.modules.values_list("pk", flat=True))
    return (
        IntegrationDefinition.objects.exclude(status=DefinitionStatus.DEPRECATED)
        .filter(Q(required_module__isnull=True) | Q(required_module_id__in=module_ids))
        .filter(Q(scope=Scope.GLOBAL) | Q(vertical_affinity=merchant.vertical))
        .select_related("required_module")
        .order_by("category", "name")
    )


def _count(rows: QuerySet) -> Subquery:
    """A correlated count as an annotation (no join, so counts of different tables never multiply;
    COUNT without GROUP BY answers 0 for no rows)."""
    return Subquery(rows.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n"),
                    output_field=IntegerField())


def integrations_for_merchant(merchant: Merchant) -> QuerySet[MerchantIntegration]:
    """The merchant's integrations with their last run and their last 24 h: runs (syncs, batches,
    polls) and event deliveries alike, so an event-driven integration's failures show too."""
    since = timezone.now() - timedelta(hours=24)
    last_run = IntegrationSyncLog.objects.filter(merchant_integration=OuterRef("pk")).order_by("-started_at")
    runs = IntegrationSyncLog.objects.filter(merchant_integration=OuterRef("pk"), started_at__gte=since)
    return (
        MerchantIntegration.objects.filter(merchant=merchant)
        .select_related("definition", "location")
        .annotate(
            last_run_status=Subquery(last_run.values("status")[:1]),
            last_run_summary=Subquery(last_run.values("error_summary")[:1]),
            successes_24h=_count(runs.filter(status__in=[SyncStatus.SUCCESS, SyncStatus.PARTIAL]))
            + _count(EventDelivery.objects.filter(merchant_integration=OuterRef("pk"), succeeded_at__gte=since)),
            failures_24h=_count(runs.filter(status=SyncStatus.FAILED))
            + _count(DeliveryAttempt.objects.filter(delivery__merchant_integration=OuterRef("pk"), succeeded=False,
                                                    attempted_at__gte=since)),
        )
        .order_by("definition__category", "definition__name")
    )


def failed_deliveries(integration: MerchantIntegration) -> QuerySet[EventDelivery]:
    """Deliveries a merchant admin should know about: dead ones, and pending ones that have failed."""
    return (
        integration.deliveries.filter(
            Q(status=DeliveryStatus.DEAD) | Q(status=DeliveryStatus.PENDING, attempts__gt=0)
        )
        .select_related("event")
        .order_by("-updated_at")
    )


def next_step(item: MerchantIntegration) -> str:
    """What the merchant admin should do about an integration, in plain words ("" when nothing).
    `item` comes from integrations_for_merchant (it carries its last run)."""
    if item.status == Status.CONFIGURING:
        return _("Finish the set-up: configuration, connection, test, then activate.")
    if item.status == Status.ERROR:
        if connects_with_oauth(item.definition_id):
            return _("Reconnect it: the vendor no longer accepts the connection.")
        return _("Re-enter the credentials and test the connection.")
    if item.needs_review:
        return _("Failing for a long time: QIIUB support is reviewing it.")
    if item.status == Status.PAUSED:
        if item.paused_reason == PausedReason.AUTO:
            return _("Fix the cause below, test the connection, then resume.")
        return _("Paused: resume it when ready. Nothing is lost meanwhile.")
    if item.last_run_status == SyncStatus.PARTIAL and "map " in (item.last_run_summary or ""):
        codes = sorted({line.split("map ", 1)[1].split(" to post")[0] for line in item.last_run_summary.splitlines()
                        if "map " in line})
        return _("Map %(codes)s: those days wait until it is mapped.") % {"codes": ", ".join(codes)}
    if item.status == Status.ACTIVE and item.consecutive_error_count:
        return _("The vendor failed; it is retrying on its own.")
    return ""


PARTNER_PAGE = 50
# Worst first: what a partner should look at before anything else.
HEALTH_ORDER = [Status.ERROR, Status.PAUSED, Status.ACTIVE, Status.CONFIGURING, Status.DISCONNECTED]


@dataclass
class PartnerHealth:
    by_status: dict[str, int]
    by_integration: list[dict]  # {"name", "<status>": count, …}
    incidents: list[dict]  # {"name", "state", "cause", "stores"}: one vendor outage is one row
    rows: list[MerchantIntegration]
    more: bool


def partner_health(partner, *, status: str = "", code: str = "", search: str = "", page: int = 1) -> PartnerHealth:
    """The partner dashboard in a fixed number of queries, however many stores: counts by status and
    by integration, failures grouped by integration and cause with their store count, and one page
    of its stores' integrations, worst first."""
    installs = MerchantIntegration.objects.filter(merchant__partner=partner).exclude(status=Status.DISCONNECTED)
    by_status = dict(installs.values_list("status").annotate(count=Count("id")).order_by())
    by_integration: dict[str, dict] = {}
    for name, state, count in installs.values_list("definition__name", "status").annotate(count=Count("id")).order_by(
            "definition__name"):
        by_integration.setdefault(name, {"name": name})[state] = count
    cause = Func(F("last_error"), Value("."), Value(1), function="split_part", output_field=CharField())
    incidents = list(
        installs.filter(Q(status__in=[Status.ERROR, Status.PAUSED]) | Q(consecutive_error_count__gt=0))
        .exclude(last_error="")
        .annotate(cause=cause).values("definition__name", "status", "cause")
        .annotate(stores=Count("merchant_id", distinct=True)).order_by("-stores", "definition__name")
    )
    health = Case(*(When(status=value, then=Value(rank)) for rank, value in enumerate(HEALTH_ORDER)),
                  output_field=IntegerField())
    rows = installs.select_related("merchant", "definition", "location")
    if status in Status.values:
        rows = rows.filter(status=status)
    if code:
        rows = rows.filter(definition__code=code)
    if search:
        rows = rows.filter(merchant__name__icontains=search)
    since = timezone.now() - timedelta(hours=24)
    recent = IntegrationSyncLog.objects.filter(merchant_integration=OuterRef("pk"), started_at__gte=since)
    rows = rows.annotate(
        health=health,
        failures_24h=Subquery(recent.filter(status=SyncStatus.FAILED).order_by().values("merchant_integration")
                              .annotate(count=Count("id")).values("count"), output_field=IntegerField()),
    ).order_by("health", "-consecutive_error_count", "merchant__name", "definition__name")
    window = list(rows[(page - 1) * PARTNER_PAGE: page * PARTNER_PAGE + 1])
    return PartnerHealth(by_status, list(by_integration.values()),
                         [{"name": row["definition__name"], "state": row["status"], "cause": row["cause"],
                           "stores": row["stores"]} for row in incidents],
                         window[:PARTNER_PAGE], len(window) > PARTNER_PAGE)


TREND_DAYS = 14


def system_health() -> dict:
    """SystemAdmin's view across partners, in three queries: installs by partner and status, the
    daily share of failed runs per integration over the last 14 days, and the review queue."""
    by_partner: dict[str, dict] = {}
    for partner, state, count in (MerchantIntegration.objects.exclude(status=Status.DISCONNECTED)
                                  .values_list("merchant__partner__name", "status").annotate(count=Count("id"))
                                  .order_by("merchant__partner__name")):
        by_partner.setdefault(partner or "Direct merchants", {"partner": partner or "Direct merchants"})[state] = count
    today = timezone.now().date()
    days = [today - timedelta(days=offset) for offset in range(TREND_DAYS - 1, -1, -1)]
    runs: dict[str, dict] = {}
    for name, day, failed, total in (
            IntegrationSyncLog.objects.filter(started_at__date__gte=days[0])
            .values_list("merchant_integration__definition__name", TruncDate("started_at"))
            .annotate(failed=Count("id", filter=Q(status=SyncStatus.FAILED)), total=Count("id"))
            .order_by()):
        runs.setdefault(name, {})[day] = (failed, total)
    trend = [{"name": name, "days": [{"day": day, "failed": per_day.get(day, (0, 0))[0],
                                       "total": per_day.get(day, (0, 0))[1],
                                       "rate": per_day[day][0] / per_day[day][1] if per_day.get(day, (0, 0))[1] else 0}
                                      for day in days]}
             for name, per_day in sorted(runs.items())]
    review = list(MerchantIntegration.objects.filter(needs_review=True).select_related("merchant", "definition")
                  .order_by("-consecutive_error_count")[:100])
    return {"by_partner": list(by_partner.values()), "trend": trend, "review": review, "days": days}
