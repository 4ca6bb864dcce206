"""The Azure Service Bus adapter's message mapping and subscription filters (no Azure needed)."""

import json

from events import publish, relay
from events.bus import _bus_for
from events.service_bus import ServiceBusBus, service_bus_message, subscription_filters
from integrations.services import configuring, enabling, transitions
from tests.factories import definition


def test_a_delivery_maps_to_one_topic_message_with_its_handler_and_event_type(personas, simulator):
    integration = enabling.merchant_integration_enable(
        merchant=personas.colmado, definition=definition("sandbox.accounting_one"), by=None
    )
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"access_token": "tok-sb"}, by=None
    )
    configuring.merchant_integration_test_connection(integration=integration, by=None)
    transitions.merchant_integration_activate(integration=integration, by=None)
    event = publish.publish(event_type="sale.completed", payload={"sale_id": "S-9"}, merchant=personas.colmado)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(subscriber_kind="integration")

    message = service_bus_message(delivery, countdown=30)

    assert json.loads(str(message)) == {"delivery_id": delivery.pk, "event_id": str(event.pk)}
    assert message.subject == "sale.completed"
    assert message.message_id == f"{event.pk}:integration:{integration.pk}:0"
    assert message.application_properties == {
        "event_type": "sale.completed", "handler": "sandbox.accounting_one", "merchant_id": personas.colmado.pk,
    }
    assert message.scheduled_enqueue_time_utc is not None


def test_subscriptions_are_derived_from_the_connector_registry():
    filters = subscription_filters()
    assert "analytics" not in filters  # the relay counts for the analytics sink: no message
    assert filters["sandbox-accounting_one"] == (
        "handler = 'sandbox.accounting_one' AND event_type IN ('sale.completed')"
    )
    assert "accounting-quickbooks_online" not in filters  # posts a nightly journal; takes no events
    assert filters["ecommerce-shopify"].endswith("event_type IN ('inventory.changed')")
    assert "erp-acumatica" not in filters  # polls; takes no events


def test_the_bus_is_picked_by_settings():
    assert isinstance(_bus_for("azure_service_bus"), ServiceBusBus)
