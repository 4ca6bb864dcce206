"""Sending deliveries again: held ones when their integration receives again, dead ones when a
person replays them, each with a fresh attempt budget."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from events.bus import get_bus
from events.models import DeliveryStatus, EventDelivery
from events.subscribers import subscriber_for
from qiiub.errors import NotAllowed

logger = logging.getLogger(__name__)


def release_held_deliveries(*, integration) -> int:
    """The merchant integration receives again: its held deliveries go out (called by the lifecycle)."""
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
        delivery.max_attempts = delivery.attempts + subscriber_for(delivery.subscriber_kind).attempt_budget(delivery)
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "max_attempts", "next_attempt_at", "updated_at"])
        transaction.on_commit(lambda: get_bus().send([delivery.pk]), robust=True)
    logger.info("event.delivery_replayed", extra={"delivery_id": delivery.pk, "by": getattr(by, "pk", None)})
    return delivery


def deliveries_replay(*, deliveries: QuerySet[EventDelivery], by) -> int:
    """Replay every dead delivery of a selection (e.g. everything dead for a subscriber since T)."""
    count = 0
    for delivery in deliveries.filter(status=DeliveryStatus.DEAD).select_related("merchant_integration"):
        delivery_replay(delivery=delivery, by=by)
        count += 1
    return count
