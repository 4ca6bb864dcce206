"""Relaying events: one delivery per subscriber derived from the event type (integrations that
take it, merchants' webhook endpoints, analytics), handed to the bus; and the beat sweep that relays
what the on-commit hand-off missed and re-sends deliveries whose worker died."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from events.bus import get_bus
from events.models import DeliveryStatus, EventDailyCount, EventDelivery, OutboxEvent, SubscriberKind
from events.subscribers import run_sweeps, subscribers

logger = logging.getLogger(__name__)

ANALYTICS_KEY = "analytics"


def _resend_after() -> timedelta:
    return timedelta(seconds=settings.EVENT_RESEND_AFTER_S)


RELAY_BATCH = 200  # events fanned out per transaction


class Relayed(NamedTuple):
    events: int  # events fanned out
    pending: list[int]  # their deliveries to send now (held ones wait; the analytics sink is done)


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
        unrelayed = OutboxEvent.objects.select_for_update(skip_locked=True).filter(relayed_at__isnull=True)
        if event_ids is not None:
            unrelayed = unrelayed.filter(pk__in=event_ids)
        events = list(unrelayed.order_by("created_at")[:limit])
        if not events:
            return Relayed(0, [])
        subscribers = _Subscribers({event.merchant_id for event in events})
        deliveries = EventDelivery.objects.bulk_create(
            [delivery for event in events for delivery in subscribers.deliveries(event)]
        )
        _count_for_analytics(events)
        OutboxEvent.objects.filter(pk__in=[event.pk for event in events]).update(relayed_at=timezone.now())
        return Relayed(len(events), [delivery.pk for delivery in deliveries if delivery.status == DeliveryStatus.PENDING])


class _Subscribers:
    """Who receives the events of a set of merchants, read once per relay batch."""

    def __init__(self, merchant_ids: set[int]):
        self.audiences = [subscriber.audience(merchant_ids) for subscriber in subscribers()]
        self.now = timezone.now()

    def deliveries(self, event: OutboxEvent) -> list[EventDelivery]:
        # The analytics sink is internal: it is handled during the fan-out itself (_count_for_analytics).
        deliveries = [
            EventDelivery(
                event=event, merchant_id=event.merchant_id, subscriber_kind=SubscriberKind.ANALYTICS,
                subscriber_key=ANALYTICS_KEY, max_attempts=1, attempts=1, status=DeliveryStatus.SUCCEEDED,
                succeeded_at=self.now,
            )
        ]
        for audience in self.audiences:
            deliveries += audience(event)
        return deliveries


def _count_for_analytics(events: list[OutboxEvent]) -> None:
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
