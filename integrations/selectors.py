"""Reads for the portal and admin: QuerySets and small summaries, no writes."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from integrations.connectors import connects_with_oauth
from integrations.events.models import DeliveryStatus, EventDelivery
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
    """What this merchant may see (D10): its modules and vertical decide; deprecated is hidden."""
    module_ids = list(merchant.modules.values_list("pk", flat=True))
    return (
        IntegrationDefinition.objects.exclude(status=DefinitionStatus.DEPRECATED)
        .filter(Q(required_module__isnull=True) | Q(required_module_id__in=module_ids))
        .filter(Q(scope=Scope.GLOBAL) | Q(vertical_affinity=merchant.vertical))
        .select_related("required_module")
        .order_by("category", "name")
    )


def integrations_for_merchant(merchant: Merchant) -> QuerySet[MerchantIntegration]:
    since = timezone.now() - timedelta(hours=24)
    last_run = IntegrationSyncLog.objects.filter(merchant_integration=OuterRef("pk")).order_by("-started_at")
    return (
        MerchantIntegration.objects.filter(merchant=merchant)
        .select_related("definition", "location")
        .annotate(
            last_run_status=Subquery(last_run.values("status")[:1]),
            last_run_summary=Subquery(last_run.values("error_summary")[:1]),
            successes_24h=Count(
                "sync_logs",
                filter=Q(sync_logs__started_at__gte=since, sync_logs__status__in=[SyncStatus.SUCCESS, SyncStatus.PARTIAL]),
            ),
            failures_24h=Count(
                "sync_logs", filter=Q(sync_logs__started_at__gte=since, sync_logs__status=SyncStatus.FAILED)
            ),
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
        return "Finish the set-up: configuration, connection, test, then activate."
    if item.status == Status.ERROR:
        if connects_with_oauth(item.definition_id):
            return "Reconnect it: the vendor no longer accepts the connection."
        return "Re-enter the credentials and test the connection."
    if item.needs_review:
        return "Failing for a long time: QIIUB support is reviewing it."
    if item.status == Status.PAUSED:
        if item.paused_reason == PausedReason.AUTO:
            return "Fix the cause below, test the connection, then resume."
        return "Paused: resume it when ready. Nothing is lost meanwhile."
    if item.last_run_status == SyncStatus.PARTIAL and "map " in (item.last_run_summary or ""):
        codes = sorted({line.split("map ", 1)[1].split(" to post")[0] for line in item.last_run_summary.splitlines()
                        if "map " in line})
        return f"Map {', '.join(codes)}: those days wait until it is mapped."
    if item.status == Status.ACTIVE and item.consecutive_error_count:
        return "The vendor failed; it is retrying on its own."
    return ""
