"""Scheduled syncs through a real Celery worker on Redis, against the simulator."""

import time

import pytest
from django.utils import timezone

from integrations.models import IntegrationSyncLog, MerchantIntegration
from integrations.tasks import claim_due_integrations, enqueue_due_syncs
from tests.factories import active_acumatica, run_concurrently

pytestmark = pytest.mark.slow


def _wait_for(condition, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_beat_task_enqueues_due_integrations_and_the_worker_syncs_them(committed, celery_worker_process, simulator):
    # given an active integration whose next poll time has come
    integration = active_acumatica(committed.colmado, by=None, token="tok-worker")
    MerchantIntegration.objects.filter(pk=integration.pk).update(next_poll_at=timezone.now())

    # when the beat task runs on the worker
    enqueue_due_syncs.delay()

    # then the worker synced it: a sync log, a watermark, and its next poll pushed forward
    assert _wait_for(lambda: IntegrationSyncLog.objects.filter(merchant_integration=integration).exists())
    integration.refresh_from_db()
    assert integration.sync_watermark is not None and integration.last_sync_at is not None
    assert integration.next_poll_at > timezone.now()
    assert any(path == "/v1/sync" and token == "tok-worker" for _, path, token in simulator.state.requests)


def test_two_orchestrators_claiming_at_once_never_claim_the_same_integration(committed, simulator):
    # given several due integrations
    due = [active_acumatica(merchant, by=None, token=f"tok-claim-{index}") for index, merchant in enumerate(committed.pharmacies)]
    MerchantIntegration.objects.filter(pk__in=[row.pk for row in due]).update(next_poll_at=timezone.now())

    # when two claimers run at the same moment on their own connections
    claims = run_concurrently(lambda: claim_due_integrations(now=timezone.now(), limit=500))

    # then every due integration was claimed exactly once
    claimed = claims[0] + claims[1]  # lists of ids (an exception would fail the concatenation)
    assert sorted(claimed) == sorted(row.pk for row in due)
