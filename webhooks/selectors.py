"""What the webhook pages read: an endpoint's delivery log and one delivery with its attempts."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery
from webhooks.models import WebhookEndpoint
from webhooks.services import TEST_EVENT_TYPE

LOG_ROWS = 50  # the endpoint page's log; each delivery's own page holds all its attempts


def endpoint_log(endpoint: WebhookEndpoint) -> QuerySet[DeliveryAttempt]:
    """The endpoint's latest attempts, test sends included, newest first."""
    return (
        DeliveryAttempt.objects.filter(delivery__webhook_endpoint=endpoint)
        .select_related("delivery__event")
        .order_by("-attempted_at", "-id")[:LOG_ROWS]
    )


def endpoint_failed_deliveries(endpoint: WebhookEndpoint) -> QuerySet[EventDelivery]:
    """Deliveries that ran out of retries (test sends are not retried)."""
    return endpoint.deliveries.filter(status=DeliveryStatus.DEAD).exclude(event__event_type=TEST_EVENT_TYPE)


def endpoint_delivery_or_404(endpoint: WebhookEndpoint, delivery_id: int) -> EventDelivery:
    return get_object_or_404(endpoint.deliveries.select_related("event", "webhook_endpoint"), pk=delivery_id)
