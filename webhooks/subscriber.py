"""Merchants' webhook endpoints as subscribers of the event bus: an enabled endpoint receives the
event types it lists; one the merchant disabled ends its deliveries instead of sending them.
A test event (the endpoint page's button) goes the same way, once, even to a disabled endpoint,
and is never an outcome of the endpoint."""

from __future__ import annotations

from collections import defaultdict
from functools import partial

from django.conf import settings

from events.models import DeliveryStatus, SubscriberKind
from events.subscribers import NewDelivery, Subscriber
from qiiub.retry import WEBHOOK_MAX_ATTEMPTS, webhook_retry_delay_s
from webhooks import services as webhooks
from webhooks.models import WebhookEndpoint
from webhooks.sending import EndpointGone, SignedEvent, post_event, refused_target_failure, signed_event
from webhooks.targets import TargetRefused

HANDLER = "webhooks"


class WebhookSubscriber(Subscriber):
    kind = SubscriberKind.WEBHOOK

    def audience(self, merchant_ids):
        endpoints = defaultdict(list)
        for endpoint in WebhookEndpoint.objects.filter(merchant_id__in=merchant_ids, enabled=True):
            endpoints[endpoint.merchant_id].append(endpoint)

        def deliveries(event):
            return [
                NewDelivery(subscriber_key=webhooks.subscriber_key(endpoint), max_attempts=WEBHOOK_MAX_ATTEMPTS,
                            webhook_endpoint_id=endpoint.pk)
                for endpoint in endpoints[event.merchant_id]
                if event.event_type in endpoint.event_types
            ]

        return deliveries

    def refusal(self, delivery):
        endpoint = delivery.webhook_endpoint
        if not endpoint.enabled and not webhooks.is_test_delivery(delivery):
            return {"status": DeliveryStatus.DEAD,
                    "last_error": f"The endpoint is disabled ({endpoint.disabled_reason or 'merchant'})."}
        return None

    def prepare(self, delivery):
        signed = signed_event(
            endpoint=delivery.webhook_endpoint, event_id=str(delivery.event_id),
            event_type=delivery.event.event_type, payload=delivery.event.payload,
            occurred_at=delivery.event.created_at,
        )
        return partial(_post, signed)

    def concurrency(self, delivery):
        return settings.EVENT_ENDPOINT_CONCURRENCY

    def retry_delay_s(self, delivery, error):
        if isinstance(error, EndpointGone) or webhooks.is_test_delivery(delivery):
            return None
        return webhook_retry_delay_s(delivery.attempts)

    def failed(self, delivery, error):
        if not webhooks.is_test_delivery(delivery):
            webhooks.record_endpoint_outcome(
                endpoint=delivery.webhook_endpoint, succeeded=False, gone=isinstance(error, EndpointGone), error=error
            )

    def succeeded(self, delivery):
        if not webhooks.is_test_delivery(delivery):
            webhooks.record_endpoint_outcome(endpoint=delivery.webhook_endpoint, succeeded=True)

    def attempt_budget(self, delivery):
        return WEBHOOK_MAX_ATTEMPTS

    def handler_name(self, delivery):
        return HANDLER

    def broker_filters(self):
        return {HANDLER: f"handler = '{HANDLER}'"}


def _post(signed: SignedEvent):
    try:
        return post_event(signed)
    except TargetRefused as refused:  # the URL now resolves somewhere refused: a failed attempt
        raise refused_target_failure(refused) from refused
