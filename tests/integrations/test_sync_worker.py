"""The poll orchestrator (D2): scheduled polls through a real Celery worker on Redis, against the
simulator; concurrent orchestrators; rate limits."""

import time

import pytest
from django.utils import timezone

from integrations.models import IntegrationSyncLog, MerchantIntegration, Status, SyncStatus
from integrations.services import polling
from integrations.services.sync import merchant_integration_sync
from integrations.tasks import enqueue_due_syncs
from tests.factories import active_acumatica, run_concurrently

pytestmark = pytest.mark.slow


def _wait_for(condition, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_the_beat_task_enqueues_due_integrations_and_the_worker_syncs_them(committed, celery_worker_process,
                                                                           acumatica_fake):
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
    assert acumatica_fake.posted()["logins"] == 2 and acumatica_fake.posted()["logouts"] == 2  # the test, the poll


@pytest.mark.fault
def test_two_orchestrators_ticking_at_once_never_enqueue_the_same_poll_twice(committed, simulator, monkeypatch):
    # given several due integrations, and claims small enough that both ticks take several chunks
    due = [active_acumatica(merchant, by=None, token=f"tok-claim-{index}") for index, merchant in enumerate(committed.pharmacies)]
    MerchantIntegration.objects.filter(pk__in=[row.pk for row in due]).update(next_poll_at=timezone.now())
    monkeypatch.setattr(polling, "CLAIM_CHUNK", 2)
    monkeypatch.setattr(polling, "POLL_BATCH", 1)

    # when two orchestrators tick at the same moment, each on its own connection
    def tick() -> list[int]:
        sent: list[int] = []
        polling.poll_tick(enqueue=sent.extend)
        return sent

    sent = run_concurrently(tick)

    # then every due integration was enqueued exactly once, and is not due again until polled
    enqueued = sent[0] + sent[1]  # lists of ids (an exception would fail the concatenation)
    assert sorted(enqueued) == sorted(row.pk for row in due)
    assert polling.poll_tick(enqueue=lambda ids: None).claimed == 0


def test_only_active_poll_capable_integrations_are_claimed(committed, simulator):
    from tests.factories import definition

    acumatica = active_acumatica(committed.colmado, by=None, token="tok-capable")
    shopify = MerchantIntegration.objects.create(merchant=committed.colmado, definition=definition("ecommerce.shopify"),
                                                 status=Status.ACTIVE)
    paused = active_acumatica(committed.retail[1], by=None, token="tok-paused")
    MerchantIntegration.objects.filter(pk=paused.pk).update(status=Status.PAUSED)
    MerchantIntegration.objects.filter(pk__in=[acumatica.pk, shopify.pk, paused.pk]).update(next_poll_at=timezone.now())

    assert polling.polls_claim(now=timezone.now()) == [acumatica.pk]


def test_a_rate_limited_poll_backs_off_and_never_counts_toward_auto_pause(committed, acumatica_fake):
    # given Acumatica answering 429 (its license's request limit; it sends no Retry-After)
    integration = active_acumatica(committed.colmado, by=None, token="tok-429")
    acumatica_fake.control(fail={"status": 429, "count": 99})

    # when it is polled more times than the auto-pause threshold
    for _ in range(4):
        log = merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))
        assert log.status == SyncStatus.RATE_LIMITED

    # then it is still active with no failure counted, and its next poll waits the backoff
    integration.refresh_from_db()
    assert integration.status == Status.ACTIVE and integration.consecutive_error_count == 0
    wait = (integration.next_poll_at - timezone.now()).total_seconds()
    assert polling.RATE_LIMIT_BACKOFF.total_seconds() - 5 < wait <= polling.RATE_LIMIT_BACKOFF.total_seconds()
