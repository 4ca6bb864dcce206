"""Celery tasks: thin, idempotent, ids in, services do the work."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from integrations.models import MerchantIntegration, Status
from integrations.services import polling
from integrations.services.sync import merchant_integration_sync

logger = logging.getLogger(__name__)


@shared_task(name="integrations.enqueue_due_syncs", ignore_result=True)
def enqueue_due_syncs() -> int:
    """The poll orchestrator's beat tick (every 60 s)."""
    return polling.poll_tick(enqueue=_send_poll_batch).claimed


def _send_poll_batch(integration_ids: list[int]) -> None:
    poll_batch.apply_async(args=[integration_ids], queue=settings.CELERY_POLL_QUEUE)


@shared_task(name="integrations.poll_batch", ignore_result=True)
def poll_batch(integration_ids: list[int]) -> None:
    """Poll each integration of a batch; one failing unexpectedly never stops the others (its
    lease lapses and the next tick claims it again)."""
    for integration in MerchantIntegration.objects.select_related("definition").filter(
        pk__in=integration_ids, status=Status.ACTIVE
    ):
        try:
            merchant_integration_sync(integration=integration)
        except Exception:
            logger.exception("integration.poll_crashed", extra={"integration_id": integration.pk})
