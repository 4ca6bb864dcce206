"""`platform.webhooks` is served by the webhooks app's own connector: its connection test sends a
signed test event to each of the merchant's enabled endpoints over real HTTPS, and says which failed."""

import socket

import pytest
from django.urls import reverse
from standardwebhooks import Webhook

from events import publish, relay
from events.models import SubscriberKind
from integrations.connectors.registry import connector_class_for
from integrations.models import Status
from integrations.services import configuring, enabling, transitions
from qiiub.errors import NotAllowed
from qiiub.http import VendorRejected, VendorUnavailable
from tests.factories import definition
from webhooks.connector import NoWebhookEndpoint
from webhooks.services import TEST_EVENT_TYPE, webhook_endpoint_create, webhook_endpoint_set_enabled


@pytest.fixture
def webhooks_integration(personas):
    return enabling.merchant_integration_enable(merchant=personas.colmado, definition=definition("platform.webhooks"),
                                                by=personas.retail_admin)


def _test(integration):
    return configuring.merchant_integration_test_connection(integration=integration, by=None)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_connector_of_platform_webhooks_comes_from_the_webhooks_app_and_takes_no_event():
    connector = connector_class_for("platform.webhooks")
    assert connector.__module__ == "webhooks.connector"
    assert connector.event_types == frozenset()
    assert not any(connector.handles(code, {}) for code in ("sale.completed", "product.updated", "shift.closed"))


def test_the_test_sends_a_signed_test_event_to_each_enabled_endpoint_and_the_integration_activates(
        personas, receiver, webhooks_integration):
    # given two enabled endpoints and a disabled one
    erp, erp_secret = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    bi, bi_secret = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["shift.closed"])
    off, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    webhook_endpoint_set_enabled(endpoint=off, enabled=False)

    # when the connection is tested
    assert _test(webhooks_integration) is None

    # then each enabled endpoint got one test event its own secret verifies, the disabled one none
    assert len(receiver.received) == 2
    for request, secret in zip(receiver.received, (erp_secret, bi_secret), strict=True):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == TEST_EVENT_TYPE
    webhooks_integration.refresh_from_db()
    assert webhooks_integration.last_test_ok
    active = transitions.merchant_integration_activate(integration=webhooks_integration, by=personas.retail_admin)
    assert active.status == Status.ACTIVE


def test_an_endpoint_answering_500_fails_the_test_naming_it(personas, receiver, webhooks_integration):
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    receiver.status = 500

    failure = _test(webhooks_integration)

    assert isinstance(failure, VendorUnavailable)
    assert failure.message == f"The test event to {endpoint.url} failed: The endpoint answered 500."
    webhooks_integration.refresh_from_db()
    assert not webhooks_integration.last_test_ok
    with pytest.raises(NotAllowed, match="Test the connection successfully"):
        transitions.merchant_integration_activate(integration=webhooks_integration, by=None)
    assert webhooks_integration.status == Status.CONFIGURING


def test_an_unreachable_endpoint_fails_the_test_naming_it_while_the_others_still_get_theirs(
        personas, receiver, settings, webhooks_integration):
    reachable, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    gone_url = f"https://127.0.0.1:{_closed_port()}/hooks/qiiub"
    webhook_endpoint_create(merchant=personas.colmado, url=gone_url, event_types=["sale.completed"])

    failure = _test(webhooks_integration)

    assert isinstance(failure, VendorUnavailable)
    assert failure.message == f"The test event to {gone_url} failed: The endpoint could not be reached: Connection refused"
    assert reachable.url not in failure.message and len(receiver.received) == 1


def test_an_endpoint_answering_410_fails_the_test_as_a_refusal_and_stays_enabled(personas, receiver,
                                                                                 webhooks_integration):
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    receiver.status = 410

    failure = _test(webhooks_integration)

    # a test disables nothing: only a delivery's 410 does
    assert isinstance(failure, VendorRejected) and endpoint.url in failure.message
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_with_no_endpoint_yet_the_test_fails_asking_for_one_on_the_webhooks_page(personas, webhooks_integration):
    failure = _test(webhooks_integration)

    assert isinstance(failure, NoWebhookEndpoint)
    assert failure.message == ("There is no webhook endpoint to test yet. Add an endpoint on the Webhooks page (or "
                               "enable one there), then test the connection again.")
    webhooks_integration.refresh_from_db()
    assert not webhooks_integration.last_test_ok


def test_with_every_endpoint_disabled_the_test_says_so(personas, receiver, webhooks_integration):
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    webhook_endpoint_set_enabled(endpoint=endpoint, enabled=False)

    failure = _test(webhooks_integration)

    assert isinstance(failure, NoWebhookEndpoint) and "disabled" in failure.message
    assert receiver.received == []


def test_the_integration_page_tells_the_merchant_to_add_an_endpoint_first(client, personas, webhooks_integration):
    client.force_login(personas.retail_admin)
    page = client.post(reverse("portal:test", args=[personas.colmado.slug, webhooks_integration.pk]),
                       follow=True).content.decode()
    assert ("Connection test failed: There is no webhook endpoint to test yet. Add an endpoint on the Webhooks "
            "page (or enable one there), then test the connection again.") in page


def test_an_active_webhooks_integration_receives_no_event_its_endpoints_do(personas, receiver, webhooks_integration):
    # given an active webhooks integration and an endpoint taking sales
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    assert _test(webhooks_integration) is None
    transitions.merchant_integration_activate(integration=webhooks_integration, by=None)

    # when a sale is published and relayed
    event = publish.publish(event_type="sale.completed", payload={"sale_id": "S-1", "total": "1.00"},
                            merchant=personas.colmado)
    relay.fan_out(event_ids=[event.pk])

    # then the endpoint has its delivery, and the integration none
    kinds = set(event.deliveries.values_list("subscriber_kind", "webhook_endpoint_id"))
    assert (SubscriberKind.WEBHOOK, endpoint.pk) in kinds
    assert not event.deliveries.filter(subscriber_kind=SubscriberKind.INTEGRATION).exists()
