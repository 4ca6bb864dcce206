"""Rows as the bus, the receivers and the terminals leave them, with back-dated times, for the
retention tests. Built with the ORM and dated with UPDATE (auto_now fields are set on save only)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery, OutboxEvent, SubscriberKind
from integrations.models import IntegrationSyncLog, MerchantIntegration
from integrations.services import enabling
from tests.factories import definition
from webhooks.models import WebhookEndpoint

NOW = timezone.now()


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def ledger(personas) -> MerchantIntegration:
    return enabling.merchant_integration_enable(merchant=personas.colmado, definition=definition(
        "sandbox.accounting_one"), by=None)


@pytest.fixture
def endpoint(personas) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(merchant=personas.colmado, url="https://erp.colmado.example/hooks",
                                          event_types=["sale.completed"], secret_vault_key="whsec-retention-test")


def event_with(merchant, *, days_old: float, deliveries=(), relayed: bool = True, at: datetime | None = None):
    """An event `days_old` days old (or at `at`) with deliveries given as (status, days since last
    change, receiver): a MerchantIntegration, a WebhookEndpoint or None for the analytics sink.
    Each delivery has one attempt per attempt used."""
    created = at or ago(days_old)
    event = OutboxEvent.objects.create(event_type="sale.completed", merchant=merchant,
                                       payload={"sale_id": f"S-{uuid.uuid4().hex[:6]}", "total": "4.50"})
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=created, relayed_at=created if relayed else None)
    for status, changed_days_ago, receiver in deliveries:
        delivery = _delivery(event, merchant, status, receiver)
        EventDelivery.objects.filter(pk=delivery.pk).update(created_at=created, updated_at=ago(changed_days_ago))
    event.refresh_from_db()
    return event


def _delivery(event, merchant, status: str, receiver) -> EventDelivery:
    if isinstance(receiver, MerchantIntegration):
        kind, key, target = SubscriberKind.INTEGRATION, f"integration:{receiver.pk}", {"merchant_integration": receiver}
    elif isinstance(receiver, WebhookEndpoint):
        kind, key, target = SubscriberKind.WEBHOOK, f"webhook:{receiver.pk}", {"webhook_endpoint": receiver}
    else:
        kind, key, target = SubscriberKind.ANALYTICS, "analytics", {}
    used = {DeliveryStatus.SUCCEEDED: 1, DeliveryStatus.DEAD: 3, DeliveryStatus.PENDING: 1}.get(status, 0)
    delivery = EventDelivery.objects.create(
        event=event, merchant=merchant, subscriber_kind=kind, subscriber_key=key, status=status, attempts=used,
        max_attempts=3, last_error="" if status == DeliveryStatus.SUCCEEDED else "The vendor answered 500.",
        succeeded_at=event.created_at if status == DeliveryStatus.SUCCEEDED else None, **target)
    DeliveryAttempt.objects.bulk_create([
        DeliveryAttempt(delivery=delivery, number=number, succeeded=status == DeliveryStatus.SUCCEEDED,
                        error="" if status == DeliveryStatus.SUCCEEDED else "The vendor answered 500.",
                        error_code="" if status == DeliveryStatus.SUCCEEDED else "vendor_status",
                        error_params=None if status == DeliveryStatus.SUCCEEDED else {"status": 500})
        for number in range(1, used + 1)])
    return delivery


def sync_log(integration, *, days_old: float, status: str = "success") -> IntegrationSyncLog:
    return IntegrationSyncLog.objects.create(merchant_integration=integration, direction="push", status=status,
                                             records_pushed=1, started_at=ago(days_old), finished_at=ago(days_old))


def surviving(model, rows) -> set:
    return set(model.objects.filter(pk__in=[row.pk for row in rows]).values_list("pk", flat=True))
