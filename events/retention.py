"""The outbox's retention rule (ADR 0039): an event goes with its deliveries and their attempts, as
one unit, once nothing still needs it.

An event is kept while it is not relayed, while any delivery of it is pending or held (whatever
their age: they are still to be sent), and while any delivery of it is dead and was last changed
(died, or was replayed) within RETENTION_DEAD_DELIVERY_DAYS, so it can still be replayed. Past
that, and once the event is older than RETENTION_EVENT_DAYS, the event, every delivery of it and
their attempts are deleted. The analytics counts (EventDailyCount) are separate and stay."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery, OutboxEvent
from qiiub.retention import Purged

EVENTS = OutboxEvent._meta.db_table
DELIVERIES = EventDelivery._meta.db_table
ATTEMPTS = DeliveryAttempt._meta.db_table

# A delivery that keeps its event: still to be sent, or dead and still replayable.
_NEEDED = (f"d.status IN ('{DeliveryStatus.PENDING}', '{DeliveryStatus.HELD}')"
           f" OR (d.status = '{DeliveryStatus.DEAD}' AND d.updated_at >= %(dead_cutoff)s)")


class OutboxRule:
    """Walks the events oldest first through `outbox_created` (their id is a UUID, which says
    nothing of age); each batch is one transaction that locks what it deletes."""

    name = "outbox"
    tenant = False

    def purge_batch(self, *, now: datetime, after: datetime | None, size: int) -> Purged:
        params = {
            "cutoff": now - timedelta(days=settings.RETENTION_EVENT_DAYS),
            "dead_cutoff": now - timedelta(days=settings.RETENTION_DEAD_DELIVERY_DAYS),
            "after": after or datetime.min.replace(tzinfo=now.tzinfo),
            "size": size,
        }
        with transaction.atomic(), connection.cursor() as cursor:
            # `>=`: events of one upload share their time; the ones a batch kept are looked at again.
            cursor.execute(
                f"""SELECT e.id, e.created_at FROM {EVENTS} e
                    WHERE e.created_at >= %(after)s AND e.created_at < %(cutoff)s AND e.relayed_at IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM {DELIVERIES} d WHERE d.event_id = e.id AND ({_NEEDED}))
                    ORDER BY e.created_at LIMIT %(size)s
                    FOR UPDATE OF e SKIP LOCKED""",
                params,
            )
            events = cursor.fetchall()
            if not events:
                return Purged({}, after, True)
            deleted = _delete(cursor, [event_id for event_id, _ in events], params)
        newest = max(created_at for _, created_at in events)
        # Done when the walk ran out, or when a whole batch of one time was kept (it would come back).
        return Purged(deleted, newest, len(events) < size or (not deleted[EVENTS] and newest == after))


def _delete(cursor, event_ids: list, params: dict) -> dict[str, int]:
    # The deliveries are locked and read again: one replayed since the events were chosen (pending
    # now) keeps its event, and nothing changes them until this transaction ends. One a writer
    # holds right now is not waited for: its event stays, for the next run.
    cursor.execute(
        f"SELECT d.id, d.event_id, ({_NEEDED}) FROM {DELIVERIES} d WHERE d.event_id = ANY(%(events)s)"
        " FOR UPDATE SKIP LOCKED",
        {**params, "events": event_ids},
    )
    deliveries = cursor.fetchall()
    cursor.execute(f"SELECT d.event_id FROM {DELIVERIES} d WHERE d.event_id = ANY(%s) AND d.id <> ALL(%s)",
                   [event_ids, [delivery_id for delivery_id, _, _ in deliveries]])
    kept = {event_id for (event_id,) in cursor.fetchall()}
    kept |= {event_id for _, event_id, still_needed in deliveries if still_needed}
    events = [event_id for event_id in event_ids if event_id not in kept]
    delivery_ids = [delivery_id for delivery_id, event_id, _ in deliveries if event_id not in kept]
    cursor.execute(f"DELETE FROM {ATTEMPTS} WHERE delivery_id = ANY(%s)", [delivery_ids])
    attempts = cursor.rowcount
    cursor.execute(f"DELETE FROM {DELIVERIES} WHERE id = ANY(%s)", [delivery_ids])
    deliveries_deleted = cursor.rowcount
    cursor.execute(f"DELETE FROM {EVENTS} WHERE id = ANY(%s)", [events])
    return {ATTEMPTS: attempts, DELIVERIES: deliveries_deleted, EVENTS: cursor.rowcount}
