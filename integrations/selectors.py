"""Reads for the portal and admin: QuerySets and small summaries, no writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import (
    Case,
    Count,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Greatest, TruncDate
from django.utils import timezone
from django.utils.translation import gettext

from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery
from integrations.models import (
    DefinitionStatus,
    IntegrationDefinition,
    IntegrationSyncLog,
    MerchantIntegration,
    Problem,
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
    runs = IntegrationSyncLog.objects.filter(merchant_integration=OuterRef("pk"), started_at__gte=since)
    return (
        MerchantIntegration.objects.filter(merchant=merchant)
        .select_related("definition", "location")
        .prefetch_related(_open_problems())
        .annotate(
            last_success_at=_last_success(),
            successes_24h=_count(runs.filter(status__in=[SyncStatus.SUCCESS, SyncStatus.PARTIAL]))
            + _count(EventDelivery.objects.filter(merchant_integration=OuterRef("pk"), succeeded_at__gte=since)),
            failures_24h=_count(runs.filter(status=SyncStatus.FAILED))
            + _count(DeliveryAttempt.objects.filter(delivery__merchant_integration=OuterRef("pk"), succeeded=False,
                                                    attempted_at__gte=since)),
        )
        .order_by("definition__category", "definition__name")
    )


def _last_success():
    """When it last worked: a delivered event or sync (`last_sync_at`) or a run that went through
    (an export, a received webhook), whichever is later, so "last sync" never says never beside
    successes."""
    good_run = IntegrationSyncLog.objects.filter(
        merchant_integration=OuterRef("pk"), status__in=[SyncStatus.SUCCESS, SyncStatus.PARTIAL]
    ).order_by("-finished_at").values("finished_at")[:1]
    return Greatest(F("last_sync_at"), Subquery(good_run))


def _open_problems() -> Prefetch:
    return Prefetch("problems", queryset=Problem.objects.filter(resolved_at__isnull=True).order_by("-last_seen_at"),
                    to_attr="open_problems")


def failed_deliveries(integration: MerchantIntegration) -> QuerySet[EventDelivery]:
    """Deliveries a merchant admin should know about: dead ones, and pending ones that have failed."""
    last_attempt = DeliveryAttempt.objects.filter(delivery=OuterRef("pk"), succeeded=False).order_by("-attempted_at")
    return (
        integration.deliveries.filter(
            Q(status=DeliveryStatus.DEAD) | Q(status=DeliveryStatus.PENDING, attempts__gt=0)
        )
        .select_related("event")
        .annotate(error_code=Subquery(last_attempt.values("error_code")[:1]),
                  error_params=Subquery(last_attempt.values("error_params")[:1]))
        .order_by("-updated_at")
    )


PARTNER_PAGE = 50
# Worst first: what a partner should look at before anything else.
HEALTH_ORDER = [Status.ERROR, Status.PAUSED, Status.ACTIVE, Status.CONFIGURING, Status.DISCONNECTED]


@dataclass
class PartnerHealth:
    by_status: dict[str, int]
    by_integration: list[dict]  # {"name", "<status>": count, …}
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
    health = Case(*(When(status=value, then=Value(rank)) for rank, value in enumerate(HEALTH_ORDER)),
                  output_field=IntegerField())
    rows = installs.select_related("merchant", "definition", "location").prefetch_related(_open_problems())
    if status in Status.values:
        rows = rows.filter(status=status)
    if code:
        rows = rows.filter(definition__code=code)
    if search:
        rows = rows.filter(merchant__name__icontains=search)
    since = timezone.now() - timedelta(hours=24)
    recent = IntegrationSyncLog.objects.filter(merchant_integration=OuterRef("pk"), started_at__gte=since)
    rows = rows.annotate(
        health=health, last_success_at=_last_success(),
        failures_24h=Subquery(recent.filter(status=SyncStatus.FAILED).order_by().values("merchant_integration")
                              .annotate(count=Count("id")).values("count"), output_field=IntegerField()),
    ).order_by("health", "-consecutive_error_count", "merchant__name", "definition__name")
    window = list(rows[(page - 1) * PARTNER_PAGE: page * PARTNER_PAGE + 1])
    return PartnerHealth(by_status, list(by_integration.values()), window[:PARTNER_PAGE], len(window) > PARTNER_PAGE)


TREND_DAYS = 14


def system_health() -> dict:
    """SystemAdmin's view across partners, in three queries: installs by partner and status, the
    daily share of failed runs per integration over the last 14 days, and the review queue."""
    by_partner: dict[str, dict] = {}
    for partner, state, count in (MerchantIntegration.objects.exclude(status=Status.DISCONNECTED)
                                  .values_list("merchant__partner__name", "status").annotate(count=Count("id"))
                                  .order_by("merchant__partner__name")):
        name = partner or gettext("Direct merchants")
        by_partner.setdefault(name, {"partner": name})[state] = count
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
                  .prefetch_related(_open_problems()).order_by("-consecutive_error_count")[:100])
    return {"by_partner": list(by_partner.values()), "trend": trend, "review": review, "days": days}
