"""Celery tasks: thin, idempotent, ids in, services do the work."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.db import connection, transaction
from django.utils import timezone

from integrations.models import MerchantIntegration, Status
from integrations.services.sync import merchant_integration_sync

SYNC_BATCH_LIMIT = 500  # D2: at most 500 polls enqueued per batch
SYNC_INTERVAL = timedelta(minutes=1)


@shared_task(name="integrations.sync_integration", ignore_result=True)
def sync_integration(integration_id: int) -> None:
    integration = MerchantIntegration.objects.select_related("definition").filter(pk=integration_id).first()
    if integration is None or integration.status != Status.ACTIVE:
        return
    merchant_integration_sync(integration=integration)


def claim_due_integrations(*, now, limit: int = SYNC_BATCH_LIMIT) -> list[int]:
    """Claim due active integrations and push their next poll time forward in one statement;
    SKIP LOCKED means two beats running at once never claim the same row."""
    table = MerchantIntegration._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {table} SET next_poll_at = %s
            WHERE id IN (
                SELECT id FROM {table}
                WHERE status = %s AND next_poll_at <= %s
                ORDER BY next_poll_at LIMIT %s
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id
            """,
            [now + SYNC_INTERVAL, Status.ACTIVE, now, limit],
        )
        return [row[0] for row in cursor.fetchall()]


@shared_task(name="integrations.enqueue_due_syncs", ignore_result=True)
def enqueue_due_syncs() -> int:
    due = claim_due_integrations(now=timezone.now())
    for integration_id in due:
        sync_integration.delay(integration_id)
    return len(due)
