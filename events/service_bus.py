"""The Azure Service Bus adapter of the bus port (a production option).

Topic `domain-events`; one subscription per handler (a connector code, or `webhooks`) whose SQL
filter selects its handler and event types. A message carries one delivery: workers consuming a
subscription call `events.dispatch.deliver(delivery_id=…)`, which claims, sends and records it as
a Celery batch task does, so leases, retries, held and dead work the same; the message id makes
Service Bus drop a duplicate send. (The analytics sink needs no subscription: the relay counts.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from events.models import EventDelivery
from events.subscribers import subscriber_for, subscribers

TOPIC = "domain-events"


def handler_of(delivery: EventDelivery) -> str:
    return subscriber_for(delivery.subscriber_kind).handler_name(delivery)


def service_bus_message(delivery: EventDelivery, *, countdown: float | None = None):
    from azure.servicebus import ServiceBusMessage

    return ServiceBusMessage(
        json.dumps({"delivery_id": delivery.pk, "event_id": str(delivery.event_id)}),
        message_id=f"{delivery.event_id}:{delivery.subscriber_key}:{delivery.attempts}",
        subject=delivery.event.event_type,
        content_type="application/json",
        application_properties={
            "event_type": delivery.event.event_type,
            "handler": handler_of(delivery),
            "merchant_id": delivery.merchant_id,
        },
        scheduled_enqueue_time_utc=timezone.now() + timedelta(seconds=countdown) if countdown else None,
    )


def subscription_filters() -> dict[str, str]:
    """Subscription name → SQL filter, derived from the subscribers (never hand-kept)."""
    filters = {}
    for subscriber in subscribers():
        filters |= subscriber.broker_filters()
    return filters


class ServiceBusBus:
    def wake_relay(self) -> None:
        from events.relay import fan_out

        # Fan out one batch here (Service Bus then carries one message per delivery); a backlog
        # beyond it is the sweep's, so a request never drains it.
        self.send(fan_out().pending)

    def send(self, delivery_ids: Iterable[int], *, countdown: float | None = None) -> None:
        from azure.servicebus import ServiceBusClient

        deliveries = EventDelivery.objects.filter(pk__in=list(delivery_ids)).select_related(
            "event", "merchant_integration"
        )
        messages = [service_bus_message(delivery, countdown=countdown) for delivery in deliveries]
        if not messages:
            return
        with ServiceBusClient.from_connection_string(settings.AZURE_SERVICE_BUS_CONNECTION) as client:
            with client.get_topic_sender(topic_name=TOPIC) as sender:
                sender.send_messages(messages)
