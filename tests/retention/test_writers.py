"""Retention never waits on a writer and no writer waits on it: it skips a row someone holds (and
takes it on the next run), and events are written and relayed while one of its batches is open."""

import threading
import time

import psycopg
import pytest
from django.db import connection, transaction

from events import publish, relay
from events.models import OutboxEvent
from events.retention import OutboxRule
from qiiub.retention import retention_run
from tests.conftest import _database_url
from tests.retention.conftest import NOW, event_with, surviving

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("holding", ["the event", "a delivery"])
def test_a_row_a_writer_holds_is_skipped_not_waited_for_and_goes_on_the_next_run(committed, settings, holding):
    settings.RETENTION_EVENT_DAYS = 30
    held, free = (event_with(committed.colmado, days_old=40, deliveries=[("succeeded", 40, None)]) for _ in range(2))
    statement = {"the event": "UPDATE integrations_outboxevent SET payload = payload WHERE id = %s",
                 "a delivery": "UPDATE integrations_eventdelivery SET last_error = '' WHERE event_id = %s"}[holding]

    # given another session in the middle of changing the old event or its delivery (a card scan
    # masking it, a person resending it)
    with psycopg.connect(_database_url()) as writer:
        writer.execute(statement, [held.pk])

        # when retention runs, it does not wait for it
        started = time.monotonic()
        retention_run(now=NOW)
        assert time.monotonic() - started < 5
        assert surviving(OutboxEvent, [held, free]) == {held.pk}
        assert held.deliveries.count() == 1
        writer.commit()

    # and the next run takes it
    retention_run(now=NOW)
    assert surviving(OutboxEvent, [held]) == set()


def test_events_are_written_and_relayed_while_a_retention_batch_is_open(committed, settings):
    settings.RETENTION_EVENT_DAYS = 30
    for _ in range(3):
        event_with(committed.colmado, days_old=40, deliveries=[("succeeded", 40, None)])
    written: list = []

    def write_and_relay():
        try:
            with transaction.atomic():
                event = publish.publish(event_type="sale.completed", payload={"sale_id": "S-live", "total": "1.00"},
                                        merchant=committed.colmado)
            relay.fan_out(event_ids=[event.pk])
            written.append(OutboxEvent.objects.get(pk=event.pk).relayed_at)
        finally:
            connection.close()

    # given a retention batch that has locked and deleted its old events but not yet committed
    with transaction.atomic():
        purged = OutboxRule().purge_batch(now=NOW, after=None, size=1000)
        assert purged.deleted["integrations_outboxevent"] >= 3

        # when a sale's event is written and relayed meanwhile, on another connection
        writer = threading.Thread(target=write_and_relay)
        writer.start()
        writer.join(timeout=10)

        # then it went through without waiting for the batch to end
        assert not writer.is_alive() and written and written[0] is not None
