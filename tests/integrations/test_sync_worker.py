"""The poll orchestrator: scheduled polls through a real Celery worker on its broker, against the
simulator; concurrent orchestrators; rate limits."""

import pytest
from django.conf import settings
from django.utils import timezone

from integrations.models import IntegrationSyncLog, MerchantIntegration, Status, SyncStatus
from integrations.services import polling
from integrations.services.sync import merchant_integration_sync
from integrations.tasks import enqueue_due_syncs
from merchants.models import Location, Merchant
from qiiub.retry import RATE_LIMIT_BACKOFF
from tests.factories import active_acumatica, definition, run_concurrently, wait_for

pytestmark = pytest.mark.slow




def test_the_beat_task_enqueues_due_integrations_and_the_worker_syncs_them(committed, celery_worker_process,
                                                                           acumatica_fake):
    # given an active integration whose next poll time has come
    integration = active_acumatica(committed.colmado, by=None, token="tok-worker")
    MerchantIntegration.objects.filter(pk=integration.pk).update(next_poll_at=timezone.now())

    # when the beat task runs on the worker
    enqueue_due_syncs.delay()

    # then the worker synced it: a sync log, a watermark, and its next poll pushed forward
    assert wait_for(lambda: IntegrationSyncLog.objects.filter(merchant_integration=integration).exists())
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
    assert RATE_LIMIT_BACKOFF.total_seconds() - 5 < wait <= RATE_LIMIT_BACKOFF.total_seconds()


def test_a_tick_sends_due_polls_to_the_poll_queue_in_batches_of_at_most_500(personas, settings):
    # given 1,001 due polls (one per location of a merchant whose schema the claim never touches)
    from qiiub.celery import app

    merchant = Merchant.objects.create(name="Polled", slug="polled-batches", schema_name="polled_batches",
                                       vertical="retail")
    locations = Location.objects.bulk_create([Location(merchant=merchant, name=f"S{i}", code=f"S{i:04d}")
                                              for i in range(1001)])
    MerchantIntegration.objects.bulk_create([
        MerchantIntegration(merchant=merchant, location=location, definition=definition("erp.acumatica"),
                            status=Status.ACTIVE, next_poll_at=timezone.now()) for location in locations])

    # when the beat task ticks (in this process; what it sends goes to the broker, Redis or RabbitMQ)
    with app.connection_for_write() as connection:
        poll_queue = app.amqp.queues[settings.CELERY_POLL_QUEUE](connection.default_channel)
        poll_queue.declare()
        poll_queue.purge()
        try:
            assert enqueue_due_syncs() == 1001
            messages = list(iter(lambda: poll_queue.get(no_ack=True), None))
        finally:
            poll_queue.purge()

    # then three messages on the poll queue, none over 500, each integration in exactly one
    assert all(message.headers["task"] == "integrations.poll_batch" for message in messages)
    batches = [message.decode()[0][0] for message in messages]
    assert sorted(len(batch) for batch in batches) == [1, 500, 500]
    assert sorted(pk for batch in batches for pk in batch) == sorted(
        MerchantIntegration.objects.filter(merchant=merchant).values_list("pk", flat=True))


def test_the_beat_schedule_names_registered_tasks_at_the_intervals_of_the_design():
    from celery.schedules import crontab

    from qiiub.celery import app

    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert {name: entry["schedule"] for name, entry in schedule.items() if not isinstance(entry["schedule"], crontab)} \
        == {"enqueue-due-syncs": 60.0, "heartbeat": 30.0, "sweep-outbox": 30.0, "remind-ivu-returns": 3600.0,
            "resume-stalled-bulk-jobs": 120.0}
    assert schedule["resume-pending-refunds"]["schedule"] == crontab(minute="*/10")
    assert schedule["partner-digests"]["schedule"] == crontab(hour=12, minute=0)  # once a day
    assert schedule["pharmacy-retention"]["schedule"] == crontab(hour=8, minute=30)  # once a day
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)


def test_a_real_beat_installs_the_schedule_and_fires_the_orchestrator_which_the_worker_runs(
        committed, celery_worker_process, acumatica_fake, process_env, tmp_path):
    import subprocess
    import sys
    from datetime import timedelta

    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    # given a due Acumatica poll, and an orchestrator tick last run an hour ago (so beat fires it
    # as it starts instead of a minute later)
    integration = active_acumatica(committed.colmado, by=None, token="tok-beat")
    MerchantIntegration.objects.filter(pk=integration.pk).update(next_poll_at=timezone.now())
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(name="enqueue-due-syncs", defaults={
        "task": "integrations.enqueue_due_syncs", "interval": every_minute,
        "last_run_at": timezone.now() - timedelta(hours=1)})

    # when a real beat process runs (the database scheduler, as in `make run`)
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "qiiub", "beat", "-l", "info", "--max-interval", "1",
         "--pidfile", str(tmp_path / "beat.pid")],
        env=process_env, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # then every entry of the schedule is installed, and the worker polled the integration
        assert wait_for(lambda: IntegrationSyncLog.objects.filter(merchant_integration=integration).exists())
        assert set(settings.CELERY_BEAT_SCHEDULE) <= set(PeriodicTask.objects.values_list("name", flat=True))
        assert PeriodicTask.objects.get(name="enqueue-due-syncs").total_run_count >= 1
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        PeriodicTask.objects.filter(name__in=settings.CELERY_BEAT_SCHEDULE).delete()
