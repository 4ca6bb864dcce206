"""Publishing domain events and delivering them to every subscriber, at least once.

publish → outbox row (same transaction as the business change) → on commit, a relay hand-off →
(worker) fan_out: one delivery per derived subscriber → bus → deliver: lease, call the handler
outside any transaction, record the outcome. A beat sweep relays what the on-commit path missed.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from integrations.connectors import connector_class_for
from integrations.connectors.base import ConnectorError, RateLimited
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
from integrations.webhooks.services import MAX_ATTEMPTS as WEBHOOK_MAX_ATTEMPTS
from merchants.models import Location, Merchant
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import NotAllowed

logger = logging.getLogger(__name__)

ANALYTICS_KEY = "analytics"
RETRY_BASE_S = 10  # first retry after ~10 s, doubling each time
RETRY_CAP_S = 3600  # never wait more than an hour between attempts
# Integrations that receive events: active ones get them now, paused or erroring ones hold them.
RECEIVING_STATUSES = (Status.ACTIVE, Status.PAUSED, Status.ERROR)


def _lease() -> timedelta:
    # Longer than any handler's HTTP timeout, so a live worker keeps its lease.
    return timedelta(seconds=settings.EVENT_DELIVERY_LEASE_S)


def _sweep_grace() -> timedelta:
    # How long the on-commit path has before the sweep steps in.
    return timedelta(seconds=settings.EVENT_SWEEP_GRACE_S)


def publish(*, event_type: str, payload: dict, merchant: Merchant, location: Location | None = None) -> OutboxEvent:
    """Write the event in the caller's transaction; it is relayed only if that transaction commits."""
    registered_event_type(event_type)
    ensure_no_card_data(payload, "payload")
    with transaction.atomic():
        event = OutboxEvent.objects.create(event_type=event_type, merchant=merchant, location=location, payload=payload)
        # Only a hand-off on commit: the fan-out runs on a worker, so publishing stays one insert.
        transaction.on_commit(lambda: get_bus().relay(event.pk), robust=True)
    return event


def relay(*, event_id) -> None:
    """Create the event's deliveries and hand them to the bus. Safe to call more than once."""
    get_bus().send(fan_out(event_id=event_id))


def _subscribers(event: OutboxEvent) -> list[EventDelivery]:
    integrations = MerchantIntegration.objects.filter(
        merchant_id=event.merchant_id, status__in=RECEIVING_STATUSES
    ).filter(Q(location__isnull=True) | Q(location_id=event.location_id)).select_related("definition")
    now = timezone.now()
    deliveries = [
        # The analytics sink is internal: it is handled during the fan-out itself (see fan_out).
        EventDelivery(
            event=event,
            merchant_id=event.merchant_id,
            subscriber_kind=SubscriberKind.ANALYTICS,
            subscriber_key=ANALYTICS_KEY,
            max_attempts=1,
            attempts=1,
            status=DeliveryStatus.SUCCEEDED,
            succeeded_at=now,
        )
    ]
    endpoints = WebhookEndpoint.objects.filter(
        merchant_id=event.merchant_id, enabled=True, event_types__contains=[event.event_type]
    )
    deliveries += [
        EventDelivery(
            event=event,
            merchant_id=event.merchant_id,
            subscriber_kind=SubscriberKind.WEBHOOK,
            subscriber_key=f"webhook:{endpoint.pk}",
            webhook_endpoint=endpoint,
            max_attempts=WEBHOOK_MAX_ATTEMPTS,
        )
        for endpoint in endpoints
    ]
    for integration in integrations:
        connector = connector_class_for(integration.definition.code)
        if event.event_type not in connector.event_types:
            continue
        deliveries.append(
            EventDelivery(
                event=event,
                merchant_id=event.merchant_id,
                subscriber_kind=SubscriberKind.INTEGRATION,
                subscriber_key=f"integration:{integration.pk}",
                merchant_integration=integration,
                max_attempts=connector.max_delivery_attempts,
                status=DeliveryStatus.PENDING if integration.status == Status.ACTIVE else DeliveryStatus.HELD,
            )
        )
    return deliveries


def fan_out(*, event_id) -> list[int]:
    """One delivery per derived subscriber (unique per event, so a second relay adds nothing);
    returns the ids of the pending ones."""
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update(skip_locked=True).filter(pk=event_id).first()
        if event is None or event.relayed_at is not None:
            return []
        # Under the event's lock and before relayed_at is set, no delivery of it exists yet.
        deliveries = EventDelivery.objects.bulk_create(_subscribers(event))
        _count_for_analytics(event, analytics=deliveries[0])
        event.relayed_at = timezone.now()
        event.save(update_fields=["relayed_at"])
        return [delivery.pk for delivery in deliveries if delivery.status == DeliveryStatus.PENDING]


def _count_for_analytics(event: OutboxEvent, *, analytics: EventDelivery) -> None:
    """The analytics sink: events per merchant, day and type, committed with the fan-out, so it
    counts each event exactly once and costs no task of its own."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {EventDailyCount._meta.db_table} (merchant_id, day, event_type, count)
            VALUES (%s, %s, %s, 1)
            ON CONFLICT (merchant_id, day, event_type) DO UPDATE SET count = {EventDailyCount._meta.db_table}.count + 1
            """,
            [event.merchant_id, event.created_at.date(), event.event_type],
        )
    DeliveryAttempt.objects.create(delivery=analytics, number=1, succeeded=True)


def retry_delay_s(attempt: int) -> float:
    """Exponential backoff with jitter: 10 s, 20 s, 40 s … capped at an hour, each scaled 0.5–1×."""
    return min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def _claim(delivery_id: int) -> EventDelivery | None:
    """Take a lease on a due pending delivery, or hold it if its integration stopped receiving."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            EventDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("event", "merchant_integration__definition", "webhook_endpoint")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(seconds=1)))
            .first()
        )
        if delivery is None:
            return None
        integration = delivery.merchant_integration
        if integration is not None and integration.status != Status.ACTIVE:
            delivery.status = DeliveryStatus.HELD
            delivery.save(update_fields=["status", "updated_at"])
            return None
        endpoint = delivery.webhook_endpoint
        if endpoint is not None and not endpoint.enabled:
            delivery.status = DeliveryStatus.DEAD
            delivery.last_error = f"The endpoint is disabled: {endpoint.disabled_reason or 'by the merchant'}"
            delivery.save(update_fields=["status", "last_error", "updated_at"])
            return None
        delivery.attempts += 1
        delivery.leased_until = now + _lease()
        delivery.save(update_fields=["attempts", "leased_until", "updated_at"])
        return delivery


def deliver(*, delivery_id: int) -> str | None:
    """Attempt one delivery; returns its new status (None when there was nothing to do)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    return _HANDLERS[delivery.subscriber_kind](delivery)


def _deliver_to_integration(delivery: EventDelivery) -> str:
    from integrations.services.lifecycle import (
        connector_for,
        merchant_integration_record_failure,
        merchant_integration_record_success,
    )

    integration = delivery.merchant_integration
    started = time.monotonic()
    try:
        connector_for(integration).handle_event(
            event_id=str(delivery.event_id), event_type=delivery.event.event_type, payload=delivery.event.payload
        )
    except ConnectorError as error:
        with transaction.atomic():
            status = _record_failure(delivery, error, started, retry_delay_s(delivery.attempts))
            merchant_integration_record_failure(integration=integration, error=error)
        return status
    with transaction.atomic():
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
        delay = None if gone else webhooks.RETRY_SCHEDULE_S[min(delivery.attempts, len(webhooks.RETRY_SCHEDULE_S)) - 1]
        with transaction.atomic():
            status = _record_failure(delivery, error, started, delay, answer=getattr(error, "answer", None))
            webhooks.record_endpoint_outcome(endpoint=endpoint, succeeded=False, gone=gone)
        return status
    with transaction.atomic():
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
    DeliveryAttempt.objects.create(
        delivery=delivery, number=delivery.attempts, succeeded=True, duration_ms=_elapsed_ms(started),
        **_answer_fields(answer),
    )
    EventDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SUCCEEDED, succeeded_at=timezone.now(), leased_until=None, last_error="",
        updated_at=timezone.now(),
    )


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
    return connector_class_for(delivery.merchant_integration.definition.code).max_delivery_attempts


def deliveries_replay(*, deliveries: QuerySet[EventDelivery], by) -> int:
    """Replay every dead delivery of a selection (e.g. everything dead for a subscriber since T)."""
    count = 0
    for delivery in deliveries.filter(status=DeliveryStatus.DEAD).select_related("merchant_integration__definition"):
        delivery_replay(delivery=delivery, by=by)
        count += 1
    return count


SWEEP_BATCH = 500


def sweep() -> dict[str, int]:
    """Relay events the on-commit relay missed, and re-send due deliveries nobody holds a lease on."""
    now = timezone.now()
    relayed = 0
    for event_id in OutboxEvent.objects.filter(relayed_at__isnull=True, created_at__lt=now - _sweep_grace()).values_list(
        "pk", flat=True
    )[:SWEEP_BATCH]:
        relay(event_id=event_id)
        relayed += 1
    due = list(
        EventDelivery.objects.filter(status=DeliveryStatus.PENDING, updated_at__lt=now - _sweep_grace())
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    get_bus().send(due)
    from integrations.webhooks.inbound_models import InboundStatus, InboundWebhook
    from integrations.webhooks.tasks import process_inbound_webhook

    # Inbound webhooks stored while their integration was paused, or whose enqueue was lost.
    for inbound_id in InboundWebhook.objects.filter(
        status=InboundStatus.RECEIVED, merchant_integration__status=Status.ACTIVE, received_at__lt=now - _sweep_grace()
    ).values_list("pk", flat=True)[:SWEEP_BATCH]:
        process_inbound_webhook.delay(inbound_id)
    return {"relayed": relayed, "resent": len(due)}
