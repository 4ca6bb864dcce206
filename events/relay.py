"""Relaying events: one delivery per subscriber derived from the event type (integrations that
take it, merchants' webhook endpoints) handed to the bus, and the analytics counts; and the beat
sweep that relays what the on-commit hand-off missed and re-sends deliveries whose worker died."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from events.bus import get_bus
from events.models import DeliveryStatus, EventDailyCount, EventDelivery, OutboxEvent
from events.subscribers import run_sweeps, subscribers
from qiiub import rows

logger = logging.getLogger(__name__)

def _resend_after() -> timedelta:
    return timedelta(seconds=settings.EVENT_RESEND_AFTER_S)


RELAY_BATCH = 200  # events fanned out per transaction


class Relayed(NamedTuple):
    events: int  # events fanned out
    pending: list[int]  # their deliveries to send now (held ones wait)


def relay_pending() -> int:
    """Fan out every committed event not yet relayed, a batch at a time, and send the deliveries.
    Safe to run anywhere, any number of times at once; returns how many events it relayed."""
    relayed = 0
    while True:
        batch = fan_out()
        get_bus().send(batch.pending)
        relayed += batch.events
        if batch.events < RELAY_BATCH:
            return relayed


def fan_out(*, event_ids: list | None = None, limit: int = RELAY_BATCH) -> Relayed:
    """Create one delivery per derived subscriber for a batch of unrelayed events (all of them, or
    those of `event_ids`). Each event is locked and marked relayed in the same transaction, so
    concurrent relays take different events and a second relay of an event adds nothing."""
    with transaction.atomic():
        events = _take_unrelayed(event_ids, limit)
        if not events:
            return Relayed(0, [])
        merchant_ids = {event.merchant_id for event in events}
        audiences = [(subscriber.kind, subscriber.audience(merchant_ids)) for subscriber in subscribers()]
        now = timezone.now()
        created = rows.insert_many(EventDelivery, _DELIVERY_COLUMNS, [
            (event.id, event.merchant_id, kind, new.subscriber_key, new.merchant_integration_id,
             new.webhook_endpoint_id, DeliveryStatus.HELD if new.held else DeliveryStatus.PENDING, 0,
             new.max_attempts, "", now, now)
            for event in events for kind, audience in audiences for new in audience(event)
        ], suffix="RETURNING id, status")
        # The analytics sink is internal: it counts the events here, in the same transaction.
        _count_for_analytics(events)
        return Relayed(len(events), [pk for pk, status in created if status == DeliveryStatus.PENDING])


_DELIVERY_COLUMNS = ("event_id", "merchant_id", "subscriber_kind", "subscriber_key", "merchant_integration_id",
                     "webhook_endpoint_id", "status", "attempts", "max_attempts", "last_error", "created_at",
                     "updated_at")


class _Unrelayed(NamedTuple):
    id: uuid.UUID
    event_type: str
    merchant_id: int
    location_id: int | None
    created_at: datetime


def _take_unrelayed(event_ids: list | None, limit: int) -> list[_Unrelayed]:
    # One statement: lock unrelayed events oldest first (skipping those another relay holds),
    # mark them relayed and read back what the fan-out needs (not their payloads).
    table = OutboxEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {table} SET relayed_at = %(now)s
                WHERE id IN (
                    SELECT id FROM {table}
                    WHERE relayed_at IS NULL AND (%(ids)s::uuid[] IS NULL OR id = ANY(%(ids)s::uuid[]))
                    ORDER BY created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
                )
                RETURNING id, event_type, merchant_id, location_id, created_at""",
            {"now": timezone.now(), "limit": limit,
             "ids": None if event_ids is None else [uuid.UUID(str(event_id)) for event_id in event_ids]},
        )
        return sorted((_Unrelayed(*row) for row in cursor.fetchall()), key=lambda event: event.created_at)


def _count_for_analytics(events: list[_Unrelayed]) -> None:
    """The analytics sink: events per merchant, day and type, committed with the fan-out, so it
    counts each event exactly once and costs no task of its own."""
    counts = Counter((event.merchant_id, event.created_at.date(), event.event_type) for event in events)
    table = EventDailyCount._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (merchant_id, day, event_type, count)
            VALUES {", ".join(["(%s, %s, %s, %s)"] * len(counts))}
            ON CONFLICT (merchant_id, day, event_type) DO UPDATE SET count = {table}.count + EXCLUDED.count
            """,
            [value for key, count in sorted(counts.items()) for value in (*key, count)],
        )


SWEEP_BATCH = 500


def sweep() -> dict[str, int]:
    """Relay events the on-commit wake-up missed, and re-send due deliveries nobody holds a lease on."""
    now = timezone.now()
    relayed = relay_pending()
    # A lapsed lease means the worker died mid-delivery: send again now. A delivery never claimed
    # is most likely still queued behind a backlog, so it is assumed lost only after
    # EVENT_RESEND_AFTER_S; re-sending it sooner would pile duplicates onto a bus already behind.
    # Each re-send touches the row, so a delivery goes again at most once per interval.
    lost = Q(leased_until__lt=now) | Q(leased_until__isnull=True, updated_at__lt=now - _resend_after())
    with transaction.atomic():
        due = list(
            EventDelivery.objects.select_for_update(skip_locked=True)
            .filter(lost, status=DeliveryStatus.PENDING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        EventDelivery.objects.filter(pk__in=due).update(updated_at=now)
    get_bus().send(due)
    run_sweeps()
    return {"relayed": relayed, "resent": len(due)}
