"""The dispatcher's statements, each one round trip for a whole batch: claim a set of due
deliveries under a lease, give claims back unsent, and record a set of outcomes with their attempt
log. Every write after the claim is fenced by the attempt number the claim took, so a worker whose
lease lapsed (and whose deliveries another worker claimed again) can no longer write over them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.utils import timezone

from events.models import DeliveryAttempt, EventDelivery, OutboxEvent
from qiiub import rows

# Delivery bookkeeping commits without waiting for the WAL flush. A crash of PostgreSQL can lose
# the last moments of claims and outcomes; those deliveries then run again, which at-least-once
# delivery with the event id as idempotency key already allows. Events themselves (the business
# transaction) keep synchronous commit. A prefix: one implicit transaction with the statement.
ASYNC_COMMIT = "SET LOCAL synchronous_commit = off; "


def lease() -> timedelta:
    # Longer than any handler's HTTP timeout, so a live worker keeps its lease.
    return timedelta(seconds=settings.EVENT_DELIVERY_LEASE_S)


def _related(field: str):
    # The model behind one of the delivery's foreign keys (an integration, a webhook endpoint),
    # known through the delivery itself: the bus imports no subscriber's app.
    return EventDelivery._meta.get_field(field).related_model


# What sending and recording read of a claimed delivery and its event (the rest stays deferred:
# converting five timestamps per delivery cost more than its HTTP call's preparation).
_DELIVERY_READ = ("id", "event_id", "merchant_id", "subscriber_kind", "subscriber_key", "merchant_integration_id",
                  "webhook_endpoint_id", "status", "attempts", "max_attempts")
_EVENT_READ = ("id", "event_type", "merchant_id", "payload", "created_at")


@lru_cache(maxsize=1)
def _claim_sql() -> str:
    # Lease every delivery of the set that is pending, due and unleased, skipping rows another
    # worker is claiming this instant (of two workers holding the same ids, each delivery goes to
    # one), and read them back with their events in the same round trip.
    table = EventDelivery._meta.db_table
    return f"""
        WITH claimed AS (
            UPDATE {table} SET attempts = attempts + 1, leased_until = %(lease_until)s, updated_at = %(now)s
            WHERE id IN (
                SELECT id FROM {table}
                WHERE id = ANY(%(ids)s) AND status = 'pending'
                  AND (leased_until IS NULL OR leased_until < %(now)s)
                  AND (next_attempt_at IS NULL OR next_attempt_at <= %(due)s)
                FOR UPDATE SKIP LOCKED
            )
            RETURNING *
        )
        SELECT {rows.columns(EventDelivery, "claimed", _DELIVERY_READ)}, {rows.columns(OutboxEvent, "event", _EVENT_READ)}
        FROM claimed JOIN {OutboxEvent._meta.db_table} event ON event.id = claimed.event_id
        ORDER BY claimed.id
    """


def claim(delivery_ids: list[int]) -> list[EventDelivery]:
    """Lease the due pending deliveries among `delivery_ids`, in the order of their events (their
    ids follow it), each with its event and receiver; each comes back with `attempts` already
    counting this attempt (the number that fences what is written about it later)."""
    if not delivery_ids:
        return []
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(ASYNC_COMMIT + _claim_sql(), {
            "ids": list(delivery_ids), "now": now, "due": now + timedelta(seconds=1), "lease_until": now + lease(),
        })
        cursor.nextset()
        found = cursor.fetchall()
    built: dict = {}  # the deliveries of one event share it: its payload is read once
    claimed = []
    for row in found:
        delivery, delivery.event = rows.instances(
            row, (EventDelivery, _DELIVERY_READ), (OutboxEvent, _EVENT_READ), built=built
        )
        claimed.append(delivery)
    # Their receivers, one read each for the set (a batch holds many deliveries of few receivers).
    for field in ("merchant_integration", "webhook_endpoint"):
        wanted = {getattr(delivery, f"{field}_id") for delivery in claimed} - {None}
        receivers = _related(field).objects.in_bulk(wanted) if wanted else {}
        for delivery in claimed:
            setattr(delivery, field, receivers.get(getattr(delivery, f"{field}_id")))
    return claimed


def unclaim(deliveries: list[EventDelivery], **changes) -> None:
    """Give claims back without an attempt (nothing was sent), setting `changes` (a status, a
    next attempt time, a last error): one statement for the set."""
    if not deliveries:
        return
    assignments = "".join(f", {EventDelivery._meta.get_field(name).column} = %({name})s" for name in changes)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {EventDelivery._meta.db_table} d
                SET attempts = d.attempts - 1, leased_until = NULL, updated_at = %(now)s{assignments}
                FROM unnest(%(ids)s::bigint[], %(attempts)s::int[]) AS claim(id, attempt)
                WHERE d.id = claim.id AND d.attempts = claim.attempt""",
            {"ids": [d.pk for d in deliveries], "attempts": [d.attempts for d in deliveries], "now": timezone.now(),
             **changes},
        )


@dataclass
class Settled:
    """What one attempt changes on its delivery, and the attempt's log row (None: no row)."""

    delivery: EventDelivery
    status: str
    next_attempt_at: datetime | None = None
    last_error: str = ""
    attempt: dict | None = None


_ATTEMPT_COLUMNS = (
    ("delivery_id", "bigint"), ("number", "int"), ("succeeded", "boolean"), ("error", "text"),
    ("duration_ms", "int"), ("status_code", "int"), ("response_excerpt", "text"), ("error_code", "text"),
    ("error_params", "jsonb"), ("request_headers", "jsonb"), ("response_headers", "jsonb"),
)
_JSON_COLUMNS = {"error_params", "request_headers", "response_headers"}


@lru_cache(maxsize=1)
def _record_sql() -> str:
    table = EventDelivery._meta.db_table
    # JSON travels as text and is cast here: arrays of psycopg's JSON wrappers do not adapt.
    attempt_arrays = ", ".join(f"%({name})s::{'text' if name in _JSON_COLUMNS else kind}[]" for name, kind in _ATTEMPT_COLUMNS)
    attempt_names = ", ".join(name for name, _ in _ATTEMPT_COLUMNS)
    attempt_values = ", ".join(f"a.{name}::jsonb" if name in _JSON_COLUMNS else f"a.{name}" for name, _ in _ATTEMPT_COLUMNS)
    return f"""
        WITH recorded AS (
            UPDATE {table} d
            SET status = o.status, next_attempt_at = o.next_attempt_at, last_error = o.last_error,
                succeeded_at = CASE WHEN o.status = 'succeeded' THEN %(now)s END,
                leased_until = NULL, updated_at = %(now)s
            FROM unnest(%(ids)s::bigint[], %(attempts)s::int[], %(statuses)s::text[], %(next_attempts)s::timestamptz[],
                        %(last_errors)s::text[]) AS o(id, attempt, status, next_attempt_at, last_error)
            WHERE d.id = o.id AND d.attempts = o.attempt AND d.status = 'pending'
            RETURNING d.id
        ), logged AS (
            INSERT INTO {DeliveryAttempt._meta.db_table} ({attempt_names}, attempted_at)
            SELECT {attempt_values}, %(now)s
            FROM unnest({attempt_arrays}) AS a({attempt_names})
            WHERE a.delivery_id IN (SELECT id FROM recorded)
        )
        SELECT id FROM recorded
    """


def record(settled: list[Settled]) -> set[int]:
    """Write every outcome and its attempt row in one statement; returns the deliveries it was
    written for. One whose claim another worker has since taken again is left as that one has it."""
    if not settled:
        return set()
    logged = [(item.delivery.pk, item.attempt) for item in settled if item.attempt is not None]
    params = {
        "now": timezone.now(),
        "ids": [item.delivery.pk for item in settled],
        "attempts": [item.delivery.attempts for item in settled],
        "statuses": [item.status for item in settled],
        "next_attempts": [item.next_attempt_at for item in settled],
        "last_errors": [item.last_error for item in settled],
    }
    for name, _ in _ATTEMPT_COLUMNS:
        if name == "delivery_id":
            params[name] = [delivery_id for delivery_id, _ in logged]
        elif name in _JSON_COLUMNS:
            params[name] = [None if row.get(name) is None else json.dumps(row[name]) for _, row in logged]
        else:
            params[name] = [row.get(name) for _, row in logged]
    with connection.cursor() as cursor:
        cursor.execute(ASYNC_COMMIT + _record_sql(), params)
        cursor.nextset()
        return {row[0] for row in cursor.fetchall()}
