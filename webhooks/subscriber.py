"""Merchants' webhook endpoints as subscribers of the event bus: an enabled endpoint receives the
event types it lists; one the merchant disabled ends its deliveries instead of sending them."""

from __future__ import annotations

from collections import defaultdict

from events.models import DeliveryStatus, EventDelivery, SubscriberKind
from events.subscribers import Subscriber
from qiiub.retry import WEBHOOK_MAX_ATTEMPTS, webhook_retry_delay_s
from webhooks import services as webhooks
from webhooks.models import WebhookEndpoint

HANDLER = "webhooks"


class WebhookSubscriber(Subscriber):
    kind = SubscriberKind.WEBHOOK

    def audience(self, merchant_ids):
        endpoints = defaultdict(list)
        for endpoint in WebhookEndpoint.objects.filter(merchant_id__in=merchant_ids, enabled=True):
            endpoints[endpoint.merchant_id].append(endpoint)

        def deliveries(event):
            return [
                EventDelivery(
                    event=event, merchant_id=event.merchant_id, subscriber_kind=self.kind,
                    subscriber_key=f"webhook:{endpoint.pk}", webhook_endpoint=endpoint,
                    max_attempts=WEBHOOK_MAX_ATTEMPTS,
                )
                for endpoint in endpoints[event.merchant_id]
                if event.event_type in endpoint.event_types
            ]

        return deliveries

    def refusal(self, delivery):
        endpoint = delivery.webhook_endpoint  # one more read: the claim joins only the integration
        if not endpoint.enabled:
            return {"status": DeliveryStatus.DEAD,
                    "last_error": f"The endpoint is disabled: {endpoint.disabled_reason or 'by the merchant'}"}
        return None

    def send(self, delivery):
        return webhooks.send_event(
            endpoint=delivery.webhook_endpoint, event_id=str(delivery.event_id), event_type=delivery.event.event_type,
            payload=delivery.event.payload, occurred_at=delivery.event.created_at,
        )

    def retry_delay_s(self, delivery, error):
        if isinstance(error, webhooks.EndpointGone):
            return None
        return webhook_retry_delay_s(delivery.attempts)

    def failed(self, delivery, error):
        webhooks.record_endpoint_outcome(
            endpoint=delivery.webhook_endpoint, succeeded=False, gone=isinstance(error, webhooks.EndpointGone)
        )

    def succeeded(self, delivery):
        webhooks.record_endpoint_outcome(endpoint=delivery.webhook_endpoint, succeeded=True)

    def attempt_budget(self, delivery):
        return WEBHOOK_MAX_ATTEMPTS

    def handler_name(self, delivery):
        return HANDLER

    def broker_filters(self):
        return {HANDLER: f"handler = '{HANDLER}'"}
