"""Publishing domain events: an outbox row in the same transaction as the business change, and
a relay hand-off on commit. Every subscriber then gets the event at least once (relay, delivery)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from events.bus import get_bus
from events.models import (
    OutboxEvent,
)
from events.types import event_type as registered_event_type
from merchants.models import Location, Merchant
from qiiub import rows
from qiiub.card_guard import ensure_no_card_data

logger = logging.getLogger(__name__)


class NewEvent(NamedTuple):
    event_type: str
    payload: dict
    merchant: Merchant
    location: Location | None = None


def publish(*, event_type: str, payload: dict, merchant: Merchant, location: Location | None = None) -> OutboxEvent:
    """Write the event in the caller's transaction; it is relayed only if that transaction commits."""
    (event_id, created_at), = publish_many([NewEvent(event_type, payload, merchant, location)])
    event = OutboxEvent(id=event_id, event_type=event_type, merchant=merchant, location=location, payload=payload,
                        created_at=created_at)
    event._state.adding, event._state.db = False, connection.alias  # as if the ORM had saved it
    return event


def publish_many(events: list[NewEvent]) -> list[tuple[uuid.UUID, datetime]]:
    """Write events in the caller's transaction, in one statement (a POS upload of many sales).
    Returns each event's (id, created_at)."""
    now = timezone.now()
    rows_to_write = []
    for event_type, payload, merchant, location in events:
        registered_event_type(event_type)
        ensure_no_card_data(payload, "payload")
        rows_to_write.append((uuid.uuid4(), event_type, merchant.pk, getattr(location, "pk", None),
                              json.dumps(payload), now))
    if not rows_to_write:
        return []
    # No savepoint of its own: the events live or die with the caller's business write.
    with transaction.atomic(savepoint=False):
        # A plain INSERT: this runs with every sale, and the ORM's save path would double its cost.
        rows.insert_many(
            OutboxEvent, ("id", "event_type", "merchant_id", "location_id", "payload", "created_at"), rows_to_write
        )
        # Only a wake-up on commit: the fan-out runs on a worker, so publishing stays one insert.
        transaction.on_commit(get_bus().wake_relay, robust=True)
    return [(row[0], now) for row in rows_to_write]
