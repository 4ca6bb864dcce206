"""Publishing domain events and delivering them to every subscriber, at least once.

publish → outbox row (same transaction as the business change) → on commit, a relay hand-off →
(worker) fan_out: one delivery per derived subscriber → bus → deliver: lease, call the handler
outside any transaction, record the outcome. A beat sweep relays what the on-commit path missed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from integrations.connectors.base import ConnectorError, RateLimited
from integrations.connectors.registry import connector_class_for_definition, connector_for
from integrations.events.bus import get_bus
from integrations.events.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EventDailyCount,
    EventDelivery,
    OutboxEvent,
    SubscriberKind,
)
from integrations.events.types import event_type as registered_event_type
from integrations.models import MerchantIntegration, Status, WebhookEndpoint
from merchants.models import Location, Merchant
from qiiub import rows
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import NotAllowed
from qiiub.retry import WEBHOOK_MAX_ATTEMPTS, event_retry_delay_s, webhook_retry_delay_s

logger = logging.getLogger(__name__)

ANALYTICS_KEY = "analytics"
# Integrations that receive events: active ones get them now, paused or erroring ones hold them.
RECEIVING_STATUSES = (Status.ACTIVE, Status.PAUSED, Status.ERROR)


def _lease() -> timedelta:
    # Longer than any handler's HTTP timeout, so a live worker keeps its lease.
    return timedelta(seconds=settings.EVENT_DELIVERY_LEASE_S)


def _sweep_grace() -> timedelta:
    # How long an inbound webhook's own enqueue has before the sweep steps in.
    return timedelta(seconds=settings.EVENT_SWEEP_GRACE_S)


def _resend_after() -> timedelta:
    return timedelta(seconds=settings.EVENT_RESEND_AFTER_S)


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
        self.integrations: dict[int, list[MerchantIntegration]] = defaultdict(list)
        for integration in MerchantIntegration.objects.filter(
            merchant_id__in=merchant_ids, status__in=RECEIVING_STATUSES
        ):
            self.integrations[integration.merchant_id].append(integration)
        self.endpoints: dict[int, list[WebhookEndpoint]] = defaultdict(list)
        for endpoint in WebhookEndpoint.objects.filter(merchant_id__in=merchant_ids, enabled=True):
            self.endpoints[endpoint.merchant_id].append(endpoint)
        self.now = timezone.now()

    def deliveries(self, event: OutboxEvent) -> list[EventDelivery]:
        common = {"event": event, "merchant_id": event.merchant_id}
        # The analytics sink is internal: it is handled during the fan-out itself (_count_for_analytics).
        deliveries = [
            EventDelivery(
                **common, subscriber_kind=SubscriberKind.ANALYTICS, subscriber_key=ANALYTICS_KEY, max_attempts=1,
                attempts=1, status=DeliveryStatus.SUCCEEDED, succeeded_at=self.now,
            )
        ]
        deliveries += [
            EventDelivery(
                **common, subscriber_kind=SubscriberKind.WEBHOOK, subscriber_key=f"webhook:{endpoint.pk}",
                webhook_endpoint=endpoint, max_attempts=WEBHOOK_MAX_ATTEMPTS,
            )
            for endpoint in self.endpoints[event.merchant_id]
            if event.event_type in endpoint.event_types
        ]
        for integration in self.integrations[event.merchant_id]:
            if integration.location_id not in (None, event.location_id):
                continue
            connector = connector_class_for_definition(integration.definition_id)
            if not connector.handles(event.event_type, integration.configuration):
                continue
            deliveries.append(
                EventDelivery(
                    **common, subscriber_kind=SubscriberKind.INTEGRATION, subscriber_key=f"integration:{integration.pk}",
                    merchant_integration=integration, max_attempts=connector.max_delivery_attempts,
                    status=DeliveryStatus.PENDING if integration.status == Status.ACTIVE else DeliveryStatus.HELD,
                )
            )
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


# Delivery bookkeeping commits without waiting for the WAL flush. A crash of PostgreSQL can lose
# the last moments of claims and outcomes; those deliveries then run again, which at-least-once
# delivery with the event id as idempotency key already allows. Events themselves (the business
# transaction) keep synchronous commit. A prefix, as one implicit transaction with the statement.
ASYNC_COMMIT = "SET LOCAL synchronous_commit = off; "


@lru_cache(maxsize=1)
def _claim_sql() -> str:
    # One round trip: lease the delivery if it is pending, due and unleased (of two workers holding
    # the same message, one wins), and read back the delivery with its event and integration.
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
    """Take a lease on a due pending delivery, or hold it if its integration stopped receiving."""
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
        row, EventDelivery, OutboxEvent, MerchantIntegration
    )
    integration, endpoint = delivery.merchant_integration, delivery.webhook_endpoint  # the endpoint: one more read
    if integration is not None and integration.status != Status.ACTIVE:
        _unclaim(delivery, status=DeliveryStatus.HELD)
        return None
    if endpoint is not None and not endpoint.enabled:
        _unclaim(delivery, status=DeliveryStatus.DEAD,
                 last_error=f"The endpoint is disabled: {endpoint.disabled_reason or 'by the merchant'}")
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
    return _HANDLERS[delivery.subscriber_kind](delivery)


def _deliver_to_integration(delivery: EventDelivery) -> str:
    from integrations.services.health import merchant_integration_record_failure, merchant_integration_record_success

    integration = delivery.merchant_integration
    started = time.monotonic()
    try:
        connector_for(integration).handle_event(
            event_id=str(delivery.event_id), event_type=delivery.event.event_type, payload=delivery.event.payload
        )
    except ConnectorError as error:
        with transaction.atomic():
            status = _record_failure(delivery, error, started, event_retry_delay_s(delivery.attempts))
            if not isinstance(error, RateLimited):
                # A vendor asking us to wait is not failing: the delivery waits and the integration
                # keeps its standing (rate limiting never counts toward auto-pause).
                merchant_integration_record_failure(integration=integration, error=error)
        return status
    _record_success(delivery, started)
    merchant_integration_record_success(integration=integration)
    return DeliveryStatus.SUCCEEDED


def _deliver_to_webhook(delivery: EventDelivery) -> str:
    from integrations.webhooks import services as webhooks

    endpoint = delivery.webhook_endpoint
    started = time.monotonic()
    try:
        answer = webhooks.send_event(
            endpoint=endpoint, event_id=str(delivery.event_id), event_type=delivery.event.event_type,
            payload=delivery.event.payload, occurred_at=delivery.event.created_at,
        )
    except ConnectorError as error:
        gone = isinstance(error, webhooks.EndpointGone)
        delay = None if gone else webhook_retry_delay_s(delivery.attempts)
        with transaction.atomic():
            status = _record_failure(delivery, error, started, delay, answer=getattr(error, "answer", None))
            webhooks.record_endpoint_outcome(endpoint=endpoint, succeeded=False, gone=gone)
        return status
    _record_success(delivery, started, answer=answer)
    webhooks.record_endpoint_outcome(endpoint=endpoint, succeeded=True)
    return DeliveryStatus.SUCCEEDED


_HANDLERS = {
    SubscriberKind.INTEGRATION: _deliver_to_integration,
    SubscriberKind.WEBHOOK: _deliver_to_webhook,
}


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
    """Log the attempt; retry after `delay_s` (None: never), or end dead after the maximum."""
    message = f"{error.message} {error.advice}"
    DeliveryAttempt.objects.create(
        delivery=delivery, number=delivery.attempts, succeeded=False, error=message, duration_ms=_elapsed_ms(started),
        **_answer_fields(answer),
    )
    if delay_s is None or delivery.attempts >= delivery.max_attempts:
        status, next_attempt_at, wait = DeliveryStatus.DEAD, None, None
        # The error's advice ("retrying on its own") no longer holds: say what does.
        tried = f"{delivery.attempts} attempt{'s' if delivery.attempts != 1 else ''}"
        message = f"{error.message} No more automatic retries after {tried}: fix the cause, then retry the delivery."
        logger.warning("event.delivery_dead", extra={"delivery_id": delivery.pk, "error_code": error.code})
    else:
        wait = delay_s
        if isinstance(error, RateLimited) and error.retry_after:
            wait = max(wait, error.retry_after)  # the vendor said how long to wait
        status, next_attempt_at = DeliveryStatus.PENDING, timezone.now() + timedelta(seconds=wait)
    EventDelivery.objects.filter(pk=delivery.pk).update(
        status=status, next_attempt_at=next_attempt_at, leased_until=None, last_error=message,
        updated_at=timezone.now(),
    )
    if wait is not None:
        transaction.on_commit(lambda: get_bus().send([delivery.pk], countdown=wait), robust=True)
    return status


def release_held_deliveries(*, integration: MerchantIntegration) -> int:
    """The integration receives again: its held deliveries go out (called by the lifecycle)."""
    now = timezone.now()
    ids = list(
        EventDelivery.objects.filter(merchant_integration=integration, status=DeliveryStatus.HELD).values_list(
            "pk", flat=True
        )
    )
    if ids:
        EventDelivery.objects.filter(pk__in=ids).update(status=DeliveryStatus.PENDING, next_attempt_at=now)
        transaction.on_commit(lambda: get_bus().send(ids), robust=True)
    return len(ids)


def delivery_replay(*, delivery: EventDelivery, by) -> EventDelivery:
    """Send a dead delivery again with a fresh attempt budget."""
    with transaction.atomic():
        delivery = EventDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status == DeliveryStatus.SUCCEEDED:
            raise NotAllowed("This delivery already succeeded; replaying it would send the event twice.",
                             code="already_delivered")
        if delivery.status != DeliveryStatus.DEAD:
            raise NotAllowed(f"Only dead deliveries can be replayed; this one is {delivery.get_status_display().lower()}.",
                             code="not_dead")
        delivery.status = DeliveryStatus.PENDING
        delivery.max_attempts = delivery.attempts + _budget(delivery)
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "max_attempts", "next_attempt_at", "updated_at"])
        transaction.on_commit(lambda: get_bus().send([delivery.pk]), robust=True)
    logger.info("event.delivery_replayed", extra={"delivery_id": delivery.pk, "by": getattr(by, "pk", None)})
    return delivery


def _budget(delivery: EventDelivery) -> int:
    if delivery.subscriber_kind == SubscriberKind.WEBHOOK:
        return WEBHOOK_MAX_ATTEMPTS
    return connector_class_for_definition(delivery.merchant_integration.definition_id).max_delivery_attempts


def deliveries_replay(*, deliveries: QuerySet[EventDelivery], by) -> int:
    """Replay every dead delivery of a selection (e.g. everything dead for a subscriber since T)."""
    count = 0
    for delivery in deliveries.filter(status=DeliveryStatus.DEAD).select_related("merchant_integration"):
        delivery_replay(delivery=delivery, by=by)
        count += 1
    return count


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
    from integrations.webhooks.inbound_models import InboundStatus, InboundWebhook
    from integrations.webhooks.tasks import process_inbound_webhook

    # Inbound webhooks stored while their integration was paused, or whose enqueue was lost.
    for inbound_id in InboundWebhook.objects.filter(
        status=InboundStatus.RECEIVED, merchant_integration__status=Status.ACTIVE, received_at__lt=now - _sweep_grace()
    ).values_list("pk", flat=True)[:SWEEP_BATCH]:
        process_inbound_webhook.delay(inbound_id)
    return {"relayed": relayed, "resent": len(due)}
