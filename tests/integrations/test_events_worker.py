"""Events through real worker processes: delivery, and a worker killed mid-burst (fault)."""

import os
import signal
import time
import uuid

import pytest
from django.db import transaction

from integrations.events import services as events
from integrations.events.models import DeliveryStatus, EventDailyCount, EventDelivery
from integrations.services import lifecycle
from tests.conftest import start_worker, stop_worker
from tests.factories import definition

pytestmark = pytest.mark.slow


def _wait_for(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return False


def _active_qbo(merchant, token):
    integration = lifecycle.merchant_integration_enable(
        merchant=merchant, definition=definition("accounting.quickbooks_online"), by=None
    )
    integration = lifecycle.merchant_integration_set_credentials(
        integration=integration, credentials={"access_token": token}, by=None
    )
    assert lifecycle.merchant_integration_test_connection(integration=integration, by=None) is None
    return lifecycle.merchant_integration_activate(integration=integration, by=None)


def _sale(index: int) -> dict:
    return {"sale_id": f"S-{index}", "total": "5.00"}


def test_a_published_sale_is_delivered_by_the_worker(committed, celery_worker_process, simulator):
    qbo = _active_qbo(committed.colmado, "tok-worker-ev")
    with transaction.atomic():
        event = events.publish(event_type="sale.completed", payload=_sale(1), merchant=committed.colmado)
    assert _wait_for(
        lambda: EventDelivery.objects.filter(event=event, status=DeliveryStatus.SUCCEEDED).count() == 2, 30
    )
    assert str(event.pk) in simulator.state.events
    assert EventDelivery.objects.get(event=event, merchant_integration=qbo).attempts == 1


@pytest.mark.fault
def test_a_worker_killed_mid_burst_loses_nothing_and_repeats_no_side_effect(committed, process_env, simulator):
    from qiiub.celery import app

    # given a slow vendor and a worker of its own, with short leases so the sweep reclaims quickly
    merchant = committed.retail[1]
    _active_qbo(merchant, "tok-fault-ev")
    simulator.control("tok-fault-ev", delay_s=0.15)
    queue = f"fault-{uuid.uuid4().hex[:8]}"
    env = {**process_env, "EVENT_DELIVERY_LEASE_S": "3", "EVENT_SWEEP_GRACE_S": "1"}
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    worker = start_worker(env, queue)
    try:
        # when a burst of 40 sales is published and the worker is killed -9 in the middle of it
        event_ids = []
        for index in range(40):
            with transaction.atomic():
                event_ids.append(
                    str(events.publish(event_type="sale.completed", payload=_sale(index), merchant=merchant).pk)
                )
        assert _wait_for(lambda: len(set(event_ids) & set(simulator.state.events)) >= 3, 30)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        delivered_before_restart = len(set(event_ids) & set(simulator.state.events))
        assert delivered_before_restart < 40

        # and a new worker starts, with beat's sweep running on it
        worker = start_worker(env, queue)

        def all_delivered() -> bool:
            from integrations.events.tasks import sweep_outbox

            sweep_outbox.delay()
            return (
                EventDelivery.objects.filter(event_id__in=event_ids, status=DeliveryStatus.SUCCEEDED).count()
                == 2 * len(event_ids)
            )

        # then every event reaches the vendor and the analytics sink, each exactly once in effect
        assert _wait_for(all_delivered, 90)
        assert set(event_ids) <= set(simulator.state.events)
        assert EventDailyCount.objects.get(merchant=merchant, event_type="sale.completed").count == 40
    finally:
        stop_worker(worker)
        app.conf.task_default_queue = previous_queue
        simulator.control("tok-fault-ev", delay_s=0)
