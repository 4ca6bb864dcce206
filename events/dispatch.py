"""Delivering one event to one subscriber: lease the delivery, call the handler outside any
transaction, record the outcome (success, a retry after the policy's wait, held, or dead)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from events.bus import get_bus
from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery, OutboxEvent
from events.subscribers import subscriber_for
from qiiub import rows
from qiiub.http import ConnectorError, RateLimited

logger = logging.getLogger(__name__)


def _lease() -> timedelta:
    # Longer than any handler's HTTP timeout, so a live worker keeps its lease.
    return timedelta(seconds=settings.EVENT_DELIVERY_LEASE_S)


# Delivery bookkeeping commits without waiting for the WAL flush. A crash of PostgreSQL can lose
# the last moments of claims and outcomes; those deliveries then run again, which at-least-once
# delivery with the event id as idempotency key already allows. Events themselves (the business
# transaction) keep synchronous commit. A prefix, as one implicit transaction with the statement.
ASYNC_COMMIT = "SET LOCAL synchronous_commit = off; "


def _integration_model():
    # The model of a delivery's merchant integration, known through the delivery's own foreign key.
    return EventDelivery._meta.get_field("merchant_integration").related_model


@lru_cache(maxsize=1)
def _claim_sql() -> str:
    # One round trip: lease the delivery if it is pending, due and unleased (of two workers holding
    # the same message, one wins), and read back the delivery with its event and integration.
    MerchantIntegration = _integration_model()
    return f"""
        WITH claimed AS (
            UPDATE {EventDelivery._meta.db_table}
            SET attempts = attempts + 1, leased_until = %(lease_until)s, updated_at = %(now)s
            WHERE id = %(id)s AND status = 'pending'
              AND (leased_until IS NULL OR leased_until < %(now)s)
              AND (next_attempt_at IS NULL OR next_attempt_at <= %(due)s)
            RETURNING *
        )
        SELECT {rows.columns(EventDelivery, "claimed")}, {rows.columns(OutboxEvent, "event")},
               {rows.columns(MerchantIntegration, "integration")}
        FROM claimed
        JOIN {OutboxEvent._meta.db_table} event ON event.id = claimed.event_id
        LEFT JOIN {MerchantIntegration._meta.db_table} integration ON integration.id = claimed.merchant_integration_id
    """


def _claim(delivery_id: int) -> EventDelivery | None:
    """Take a lease on a due pending delivery, or settle it unsent if its subscriber refuses it now
    (an integration that stopped receiving holds it; a disabled endpoint ends it)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            ASYNC_COMMIT + _claim_sql(),
            {"id": delivery_id, "now": now, "due": now + timedelta(seconds=1), "lease_until": now + _lease()},
        )
        cursor.nextset()
        row = cursor.fetchone()
    if row is None:
        return None
    delivery, delivery.event, delivery.merchant_integration = rows.instances(
        row, EventDelivery, OutboxEvent, _integration_model()
    )
    if refused := subscriber_for(delivery.subscriber_kind).refusal(delivery):
        _unclaim(delivery, **refused)
        return None
    return delivery


def _unclaim(delivery: EventDelivery, **changes) -> None:
    """Give a claim back without an attempt: the delivery was not sent."""
    EventDelivery.objects.filter(pk=delivery.pk).update(
        attempts=F("attempts") - 1, leased_until=None, updated_at=timezone.now(), **changes
    )


def deliver(*, delivery_id: int) -> str | None:
    """Attempt one delivery; returns its new status (None when there was nothing to do)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    subscriber = subscriber_for(delivery.subscriber_kind)
    started = time.monotonic()
    try:
        answer = subscriber.send(delivery)
    except ConnectorError as error:
        with transaction.atomic():
            delay = subscriber.retry_delay_s(delivery, error)
            status = _record_failure(delivery, error, started, delay, answer=getattr(error, "answer", None))
            subscriber.failed(delivery, error)
        return status
    _record_success(delivery, started, answer=answer)
    subscriber.succeeded(delivery)
    return DeliveryStatus.SUCCEEDED


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _answer_fields(answer) -> dict:
    if answer is None:
        return {}
    return {"status_code": answer.status_code, "response_excerpt": answer.excerpt}


def _record_success(delivery: EventDelivery, started: float, *, answer=None) -> None:
    """The outcome in one statement (atomic, one round trip on the hot path). A webhook delivery
    logs its attempt too, since the endpoint's delivery log shows every answer. An integration's
    successful attempt is the delivery row itself: its attempt log keeps what went wrong, not a
    row per delivered event."""
    now = timezone.now()
    succeeded = f"""
        UPDATE {EventDelivery._meta.db_table}
        SET status = %s, succeeded_at = %s, leased_until = NULL, last_error = '', updated_at = %s
        WHERE id = %s
    """
    params = [DeliveryStatus.SUCCEEDED, now, now, delivery.pk]
    if answer is not None:
        succeeded = f"""
            WITH attempt AS (
                INSERT INTO {DeliveryAttempt._meta.db_table}
                    (delivery_id, number, succeeded, error, duration_ms, status_code, response_excerpt, attempted_at)
                VALUES (%s, %s, true, '', %s, %s, %s, %s)
            )
        """ + succeeded
        params = [delivery.pk, delivery.attempts, _elapsed_ms(started), answer.status_code, answer.excerpt, now, *params]
    with connection.cursor() as cursor:
        cursor.execute(ASYNC_COMMIT + succeeded, params)


def _record_failure(
    delivery: EventDelivery, error: ConnectorError, started: float, delay_s: float | None, *, answer=None
) -> str:
    """Log the attempt (its error as a code and parameters, and in English for the admin); retry
    after `delay_s` (None: never), or end dead after the maximum."""
    DeliveryAttempt.objects.create(
        delivery=delivery, number=delivery.attempts, succeeded=False, error=error.message, error_code=error.reason,
        error_params=error.params, duration_ms=_elapsed_ms(started), **_answer_fields(answer),
    )
    if delay_s is None or delivery.attempts >= delivery.max_attempts:
        status, next_attempt_at, wait = DeliveryStatus.DEAD, None, None
        logger.warning("event.delivery_dead", extra={"delivery_id": delivery.pk, "error_code": error.code})
    else:
        wait = delay_s
        if isinstance(error, RateLimited) and error.retry_after:
            wait = max(wait, error.retry_after)  # the vendor said how long to wait
        status, next_attempt_at = DeliveryStatus.PENDING, timezone.now() + timedelta(seconds=wait)
    EventDelivery.objects.filter(pk=delivery.pk).update(
        status=status, next_attempt_at=next_attempt_at, leased_until=None, last_error=error.message,
        updated_at=timezone.now(),
    )
    if wait is not None:
        transaction.on_commit(lambda: get_bus().send([delivery.pk], countdown=wait), robust=True)
    return status
