"""Celery tasks: thin, idempotent, ids in, services do the work."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from integrations.models import MerchantIntegration, Status
from integrations.services import polling
from integrations.services.alerts import partner_digests_send
from integrations.services.sync import merchant_integration_sync

logger = logging.getLogger(__name__)


@shared_task(name="integrations.enqueue_due_syncs", ignore_result=True)
def enqueue_due_syncs() -> int:
    """The orchestrator's beat tick (every 60 s): due polls, then due scheduled batches."""
    polls = polling.poll_tick(enqueue=send_poll_batch)
    batches = polling.poll_tick(enqueue=send_scheduled_batch, due=polling.SCHEDULED_BATCHES)
    return polls.claimed + batches.claimed


def send_poll_batch(integration_ids: list[int]) -> None:
    poll_batch.apply_async(args=[integration_ids], queue=settings.CELERY_POLL_QUEUE)


def send_scheduled_batch(integration_ids: list[int]) -> None:
    scheduled_batch.apply_async(args=[integration_ids], queue=settings.CELERY_POLL_QUEUE)


@shared_task(name="integrations.poll_batch", ignore_result=True)
def poll_batch(integration_ids: list[int]) -> None:
    _run_each(integration_ids, polling.POLLS)


@shared_task(name="integrations.scheduled_batch", ignore_result=True)
def scheduled_batch(integration_ids: list[int]) -> None:
    _run_each(integration_ids, polling.SCHEDULED_BATCHES)


def _run_each(integration_ids: list[int], due: polling.Due) -> None:
    """Run each integration of a message; one failing unexpectedly never stops the others (its
    lease lapses and a later tick claims it again)."""
    for integration in MerchantIntegration.objects.select_related("definition", "merchant").filter(
        pk__in=integration_ids, status=Status.ACTIVE
    ):
        try:
            merchant_integration_sync(integration=integration, due=due)
        except Exception:
            logger.exception("integration.run_crashed", extra={"integration_id": integration.pk})


@shared_task(name="integrations.partner_digests", ignore_result=True)
def partner_digests() -> int:
    return partner_digests_send()
