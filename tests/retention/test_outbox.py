"""The outbox's retention: an event goes with its deliveries and attempts once nothing needs it;
pending, held and still-replayable dead deliveries keep it (ADR 0039)."""

import pytest

from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery, OutboxEvent
from qiiub.retention import retention_run
from tests.retention.conftest import NOW, ago, event_with, surviving

SUCCEEDED, PENDING, HELD, DEAD = (DeliveryStatus.SUCCEEDED, DeliveryStatus.PENDING, DeliveryStatus.HELD,
                                  DeliveryStatus.DEAD)


@pytest.fixture(autouse=True)
def _windows(settings):
    settings.RETENTION_EVENT_DAYS, settings.RETENTION_DEAD_DELIVERY_DAYS = 30, 90


def test_a_settled_event_past_its_window_goes_with_its_deliveries_and_attempts_and_a_recent_one_stays(
        personas, ledger, endpoint):
    # given two events delivered to analytics, a ledger and an endpoint: one 31 days old, one 29
    receivers = [(SUCCEEDED, 31, None), (SUCCEEDED, 31, ledger), (SUCCEEDED, 31, endpoint)]
    old = event_with(personas.colmado, days_old=31, deliveries=receivers)
    recent = event_with(personas.colmado, days_old=29, deliveries=[(SUCCEEDED, 29, r) for _, _, r in receivers])

    # when retention runs
    report = retention_run(now=NOW)

    # then the old event, its 3 deliveries and their 2 attempts are gone; the recent one is whole
    assert surviving(OutboxEvent, [old, recent]) == {recent.pk}
    assert not EventDelivery.objects.filter(event_id=old.pk).exists()
    assert not DeliveryAttempt.objects.filter(delivery__event_id=old.pk).exists()
    assert EventDelivery.objects.filter(event=recent).count() == 3
    assert DeliveryAttempt.objects.filter(delivery__event=recent).count() == 3
    assert report.finished and report.deleted["integrations_outboxevent"] >= 1


@pytest.mark.parametrize("waiting", [PENDING, HELD])
def test_a_pending_or_held_delivery_keeps_its_event_and_its_siblings_whatever_their_age(
        personas, ledger, endpoint, waiting):
    event = event_with(personas.colmado, days_old=400,
                       deliveries=[(SUCCEEDED, 400, None), (SUCCEEDED, 400, endpoint), (waiting, 400, ledger)])

    retention_run(now=NOW)

    assert OutboxEvent.objects.filter(pk=event.pk).exists()
    assert set(event.deliveries.values_list("status", flat=True)) == {SUCCEEDED, waiting}
    assert DeliveryAttempt.objects.filter(delivery__event=event).count() == 2 + (waiting == PENDING)


def test_a_dead_delivery_keeps_its_event_until_its_own_window_from_when_it_died(personas, ledger):
    # given two 120-day-old events whose ledger delivery died: one 89 days ago, one 91 days ago
    replayable = event_with(personas.colmado, days_old=120, deliveries=[(SUCCEEDED, 120, None), (DEAD, 89, ledger)])
    expired = event_with(personas.colmado, days_old=120, deliveries=[(SUCCEEDED, 120, None), (DEAD, 91, ledger)])

    retention_run(now=NOW)

    # then the one still replayable is whole (its 3 attempts too); the other went with its attempts
    assert surviving(OutboxEvent, [replayable, expired]) == {replayable.pk}
    assert replayable.deliveries.get(status=DEAD).attempt_log.count() == 3
    assert not EventDelivery.objects.filter(event_id=expired.pk).exists()


def test_a_dead_delivery_replayed_and_delivered_lets_its_event_go_with_the_others(personas, ledger):
    # given a 40-day-old event whose dead delivery was replayed 2 days ago and then succeeded
    event = event_with(personas.colmado, days_old=40, deliveries=[(SUCCEEDED, 40, None), (SUCCEEDED, 2, ledger)])

    retention_run(now=NOW)

    assert not OutboxEvent.objects.filter(pk=event.pk).exists()


def test_an_event_not_yet_relayed_is_kept_whatever_its_age(personas):
    event = event_with(personas.colmado, days_old=60, relayed=False)

    retention_run(now=NOW)

    assert OutboxEvent.objects.filter(pk=event.pk).exists()


def test_a_relayed_event_no_one_subscribed_to_goes_after_its_window(personas):
    event = event_with(personas.colmado, days_old=31)

    retention_run(now=NOW)

    assert not OutboxEvent.objects.filter(pk=event.pk).exists()


def test_the_events_of_one_upload_go_in_batches_past_the_ones_a_pending_delivery_keeps(personas, ledger):
    # given 25 old events written by one upload (one time for all), the 12th still pending for the ledger
    at = ago(45)
    events = [event_with(personas.colmado, days_old=45, at=at,
                         deliveries=[(SUCCEEDED, 45, None), (PENDING if index == 11 else SUCCEEDED, 45, ledger)])
              for index in range(25)]

    # when retention runs 10 events per transaction
    report = retention_run(now=NOW, batch_rows=10)

    # then every one goes but the pending one, in three transactions of at most 10 events
    assert surviving(OutboxEvent, events) == {events[11].pk}
    assert report.finished and report.deleted["integrations_outboxevent"] == 24
    assert report.deleted["integrations_eventdelivery"] == 48 and report.deleted["integrations_deliveryattempt"] == 48


def test_a_spent_budget_stops_the_run_and_the_next_run_goes_on(personas):
    events = [event_with(personas.colmado, days_old=31) for _ in range(3)]

    first = retention_run(now=NOW, budget_s=-1)
    assert not first.finished and surviving(OutboxEvent, events) == {event.pk for event in events}

    second = retention_run(now=NOW)
    assert second.finished and surviving(OutboxEvent, events) == set()
