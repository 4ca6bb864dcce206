"""Reads for the portal and admin: QuerySets and small summaries, no writes."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from integrations.events.models import DeliveryStatus, EventDelivery
from integrations.models import DefinitionStatus, IntegrationDefinition, MerchantIntegration, Scope, SyncStatus
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
    return (
        MerchantIntegration.objects.filter(merchant=merchant)
        .select_related("definition", "location")
        .annotate(
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
