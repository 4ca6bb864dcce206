"""Merchant integrations as subscribers of the event bus: an integration whose connector takes an
event type receives it; a paused or erroring one holds it until it receives again."""

from __future__ import annotations

from collections import defaultdict
from functools import partial

from django.conf import settings

from events.models import DeliveryStatus, SubscriberKind
from events.subscribers import NewDelivery, Subscriber
from integrations.connectors.registry import (
    connector_class_for,
    connector_class_for_definition,
    connector_for,
    definition_code,
    registered_codes,
)
from integrations.models import RECEIVING_STATUSES, MerchantIntegration, Status
from integrations.services import problems
from integrations.services.health import merchant_integration_record_failure, merchant_integration_record_success
from qiiub.http import RateLimited
from qiiub.retry import event_retry_delay_s


class IntegrationSubscriber(Subscriber):
    kind = SubscriberKind.INTEGRATION

    def audience(self, merchant_ids):
        receiving = defaultdict(list)
        for integration in MerchantIntegration.objects.filter(
            merchant_id__in=merchant_ids, status__in=RECEIVING_STATUSES
        ):
            receiving[integration.merchant_id].append(integration)

        def deliveries(event):
            found = []
            for integration in receiving[event.merchant_id]:
                if integration.location_id not in (None, event.location_id):
                    continue
                connector = connector_class_for_definition(integration.definition_id)
                if not connector.handles(event.event_type, integration.configuration):
                    continue
                found.append(NewDelivery(
                    subscriber_key=f"integration:{integration.pk}", max_attempts=connector.max_delivery_attempts,
                    held=integration.status != Status.ACTIVE, merchant_integration_id=integration.pk,
                ))
            return found

        return deliveries

    def refusal(self, delivery):
        if delivery.merchant_integration.status != Status.ACTIVE:
            return {"status": DeliveryStatus.HELD}
        return None

    def prepare(self, delivery):
        connector = connector_for(delivery.merchant_integration)
        return partial(connector.handle_event, event_id=str(delivery.event_id),
                       event_type=delivery.event.event_type, payload=delivery.event.payload)

    def concurrency(self, delivery):
        connector = connector_class_for_definition(delivery.merchant_integration.definition_id)
        return connector.max_concurrent_deliveries or settings.EVENT_ENDPOINT_CONCURRENCY

    def retry_delay_s(self, delivery, error):
        return event_retry_delay_s(delivery.attempts)

    def failed(self, delivery, error):
        # A vendor asking us to wait is not failing: the delivery waits and the integration keeps
        # its standing (rate limiting never counts toward auto-pause).
        if not isinstance(error, RateLimited):
            merchant_integration_record_failure(integration=delivery.merchant_integration, error=error)
        if delivery.attempts >= delivery.max_attempts:  # that was its last attempt: it is dead now
            problems.dead_delivery_seen(integration=delivery.merchant_integration, error=error)

    def succeeded(self, delivery):
        merchant_integration_record_success(integration=delivery.merchant_integration)

    def attempt_budget(self, delivery):
        return connector_class_for_definition(delivery.merchant_integration.definition_id).max_delivery_attempts

    def handler_name(self, delivery):
        return definition_code(delivery.merchant_integration.definition_id)

    def broker_filters(self):
        filters = {}
        for code in sorted(registered_codes()):
            event_types = sorted(connector_class_for(code).event_types)
            if event_types:
                listed = ", ".join(f"'{event_type}'" for event_type in event_types)
                filters[code.replace(".", "-")] = f"handler = '{code}' AND event_type IN ({listed})"
        return filters
