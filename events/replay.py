"""Sending deliveries again: held ones when their integration receives again, dead ones when a
person replays them, each with a fresh attempt budget. A dead delivery is replayed only when its
subscriber would take it now: one to a disabled endpoint or an integration that is not active
stays dead (and the person is told why) instead of going straight back to dead or to held."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from events.bus import get_bus
from events.models import DeliveryStatus, EventDelivery, SubscriberKind
from events.subscribers import subscriber_for
from qiiub.errors import NotAllowed

logger = logging.getLogger(__name__)


@dataclass
class ReplayOutcome:
    """What a replay of a selection did: how many went out again, and each one left dead with why."""

    replayed: int = 0
    skipped: list[tuple[EventDelivery, NotAllowed]] = field(default_factory=list)


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


def _not_receiving(delivery: EventDelivery) -> NotAllowed:
    if delivery.subscriber_kind == SubscriberKind.WEBHOOK:
        return NotAllowed(_("Not replayed: its webhook endpoint is disabled. Enable the endpoint, then replay it."),
                          code="endpoint_disabled")
    if delivery.subscriber_kind == SubscriberKind.INTEGRATION:
        return NotAllowed(
            _("Not replayed: its integration is %(status)s. Replay it once the integration is active again.")
            % {"status": delivery.merchant_integration.get_status_display().lower()},
            code="integration_not_active",
        )
    return NotAllowed(_("Not replayed: its receiver takes no deliveries now."), code="subscriber_not_receiving")


def delivery_replay(*, delivery: EventDelivery, by) -> EventDelivery:
    """Send a dead delivery again with a fresh attempt budget, if its subscriber takes it now."""
    with transaction.atomic():
        delivery = EventDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status == DeliveryStatus.SUCCEEDED:
            raise NotAllowed(_("This delivery already succeeded; replaying it would send the event twice."),
                             code="already_delivered")
        if delivery.status != DeliveryStatus.DEAD:
            raise NotAllowed(_("Only dead deliveries can be replayed; this one is %(status)s.")
                             % {"status": delivery.get_status_display().lower()}, code="not_dead")
        subscriber = subscriber_for(delivery.subscriber_kind)
        if subscriber.refusal(delivery) is not None:
            raise _not_receiving(delivery)
        delivery.status = DeliveryStatus.PENDING
        delivery.max_attempts = delivery.attempts + subscriber.attempt_budget(delivery)
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "max_attempts", "next_attempt_at", "updated_at"])
        transaction.on_commit(lambda: get_bus().send([delivery.pk]), robust=True)
    logger.info("event.delivery_replayed", extra={"delivery_id": delivery.pk, "by": getattr(by, "pk", None)})
    return delivery


def dead_deliveries_replay(*, deliveries: QuerySet[EventDelivery], by) -> ReplayOutcome:
    """Replay every dead delivery of a selection (e.g. everything dead for a subscriber since T);
    those whose subscriber takes nothing now stay dead and are reported with the reason."""
    outcome = ReplayOutcome()
    for delivery in deliveries.filter(status=DeliveryStatus.DEAD).select_related("event"):
        try:
            delivery_replay(delivery=delivery, by=by)
        except NotAllowed as refusal:
            outcome.skipped.append((delivery, refusal))
        else:
            outcome.replayed += 1
    return outcome


def deliveries_replay(*, deliveries: QuerySet[EventDelivery], by) -> int:
    """How many dead deliveries of the selection really went out again."""
    return dead_deliveries_replay(deliveries=deliveries, by=by).replayed
