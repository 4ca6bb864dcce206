"""The batch dispatcher on the real database and real HTTP: a set claimed once whoever asks for
it, outcomes fenced by the attempt number, and a worker process's sender (send threads, a limit
per receiver, the recorder thread) keeping a slow or hanging vendor from holding up the others."""

import threading
import time
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from events import claims, dispatch, publish, relay
from events.claims import Settled
from events.models import DeliveryStatus, EventDelivery
from events.sender import Sender
from integrations.services import configuring, enabling, transitions
from tests.factories import definition


def _ledger(merchant, token, code="sandbox.accounting_one"):
    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition(code), by=None)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"access_token": token}, by=None
    )
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    return transitions.merchant_integration_activate(integration=integration, by=None)


def _deliveries(merchant, integration, count: int) -> list[int]:
    """`count` sales relayed: their pending deliveries to `integration`, oldest first."""
    with transaction.atomic():
        events = [publish.publish(event_type="sale.completed", payload={"sale_id": f"S-{n}", "total": "1.00"},
                                  merchant=merchant) for n in range(count)]
    relay.fan_out(event_ids=[event.pk for event in events])
    return list(EventDelivery.objects.filter(event__in=events, merchant_integration=integration)
                .order_by("pk").values_list("pk", flat=True))


def _settle(ids: list[int], seconds: float = 30) -> dict[int, EventDelivery]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = EventDelivery.objects.in_bulk(ids)
        if all(row.status != DeliveryStatus.PENDING or row.attempts and row.leased_until is None
               for row in rows.values()):
            return rows
        time.sleep(0.1)
    raise AssertionError("the deliveries did not settle")


def test_a_set_claimed_by_two_workers_at_once_goes_to_one_of_them_each(committed, simulator):
    # given 60 due deliveries
    ids = _deliveries(committed.colmado, _ledger(committed.colmado, "tok-claim-race"), 60)

    # when two workers (connections of their own) claim the same set at the same instant
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        start.wait()
        claimed[name] = [delivery.pk for delivery in claims.claim(ids)]
        connection.close()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then each delivery is leased once, by one of them, with one attempt counted
    assert sorted(claimed["a"] + claimed["b"]) == sorted(ids)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert set(EventDelivery.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
    # and a third claim while the leases hold gets nothing
    assert claims.claim(ids) == []


def test_a_worker_whose_lease_lapsed_cannot_overwrite_the_attempt_that_took_over(personas, simulator):
    ids = _deliveries(personas.colmado, _ledger(personas.colmado, "tok-fence"), 1)
    # given a worker's claim whose lease lapsed (the worker stalled) and another worker's claim since
    stale, = claims.claim(ids)
    EventDelivery.objects.filter(pk=stale.pk).update(leased_until=timezone.now() - timedelta(seconds=1))
    current, = claims.claim(ids)
    assert (stale.attempts, current.attempts) == (1, 2)

    # when the stalled worker records its failure late
    written = claims.record([Settled(stale, DeliveryStatus.DEAD, last_error="stale worker")])

    # then nothing of it is written: the delivery is still the second attempt's, leased
    assert written == set()
    row = EventDelivery.objects.get(pk=stale.pk)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.PENDING, 2, "")
    assert row.leased_until is not None and not row.attempt_log.exists()
    # and the current attempt's outcome is
    assert claims.record([Settled(current, DeliveryStatus.SUCCEEDED)]) == {current.pk}
    assert EventDelivery.objects.get(pk=stale.pk).status == DeliveryStatus.SUCCEEDED


def test_a_slow_receiver_gets_at_most_its_limit_at_once_and_holds_up_no_one_else(committed, simulator, settings):
    settings.EVENT_ENDPOINT_CONCURRENCY = 2
    slow_merchant, other_merchant = committed.colmado, committed.retail[1]
    slow = _ledger(slow_merchant, "tok-slow-vendor")
    fast = _ledger(other_merchant, "tok-fast-vendor")
    simulator.control("tok-slow-vendor", delay_s=1.0)
    sender = Sender(record=dispatch.record, threads=8, max_in_flight=200)
    try:
        slow_ids, fast_ids = _deliveries(slow_merchant, slow, 6), _deliveries(other_merchant, fast, 30)

        # when the slow vendor's deliveries are handed over first, then the others'
        dispatch.dispatch(slow_ids, via=sender)
        dispatch.dispatch(fast_ids, via=sender)
        rows = _settle(slow_ids + fast_ids)

        # then every one is delivered
        assert {row.status for row in rows.values()} == {DeliveryStatus.SUCCEEDED}
        slow_done = sorted(rows[pk].succeeded_at for pk in slow_ids)
        fast_done = sorted(rows[pk].succeeded_at for pk in fast_ids)
        # the slow vendor two at a time (six 1 s calls: three rounds), never six at once
        assert slow_done[-1] - slow_done[0] >= timedelta(seconds=1.8)
        # and the others went through before its first round had even answered
        assert fast_done[-1] < slow_done[0]
    finally:
        simulator.control("tok-slow-vendor", delay_s=0)
        sender.drain(timeout=10)


def test_a_delivery_whose_lease_would_lapse_before_its_turn_is_given_back_unsent(committed, simulator, settings):
    settings.EVENT_ENDPOINT_CONCURRENCY = 1
    settings.EVENT_DELIVERY_LEASE_S = 2  # a turn more than a second away would outlive it
    merchant = committed.colmado
    ledger = _ledger(merchant, "tok-busy-vendor")
    simulator.control("tok-busy-vendor", delay_s=1.5)
    sender = Sender(record=dispatch.record, threads=4, max_in_flight=200)
    try:
        ids = _deliveries(merchant, ledger, 3)
        before = len(simulator.state.events)

        # when three deliveries to a receiver that takes one at a time, 1.5 s each, are handed over
        dispatch.dispatch(ids, via=sender)
        assert sender.drain(timeout=20)

        # then the first is delivered; the ones whose turn came after their lease's end went back
        # unsent: no attempt counted, due again, and queued for another try
        rows = EventDelivery.objects.in_bulk(ids)
        assert rows[ids[0]].status == DeliveryStatus.SUCCEEDED
        for pk in ids[1:]:
            assert (rows[pk].status, rows[pk].attempts, rows[pk].leased_until) == (DeliveryStatus.PENDING, 0, None)
            assert not rows[pk].attempt_log.exists()
        assert len(simulator.state.events) == before + 1
    finally:
        simulator.control("tok-busy-vendor", delay_s=0)
