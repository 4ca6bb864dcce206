"""SystemAdmin's dead letters: attempts counted against the delivery's own budget, a clear error for
an unreadable "since", read-only deliveries, and a replay count of only what really went out."""

import pytest
from django.urls import reverse

from events import publish, relay
from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery
from integrations.services import configuring
from tests.integrations.test_events import _active, _publish
from webhooks.services import webhook_endpoint_create, webhook_endpoint_set_enabled

CHANGELIST = reverse("admin:events_eventdelivery_changelist")


@pytest.fixture
def operator(client, personas):
    client.force_login(personas.sysadmin)
    return client


def _dead_delivery(personas, simulator, token):
    """A delivery to an active sandbox ledger that used its one attempt and is dead (set up as the
    dispatcher leaves it; tests/integrations/test_events.py covers how it gets there)."""
    ledger = _active(personas.colmado, "sandbox.accounting_one", token)
    event = _publish(personas.colmado)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(merchant_integration=ledger)
    EventDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, attempts=1, max_attempts=1, last_error="The vendor answered 500.")
    DeliveryAttempt.objects.create(delivery=delivery, number=1, succeeded=False, error="The vendor answered 500.")
    delivery.refresh_from_db()
    return ledger, delivery


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _act(client, action: str, deliveries, since: str = ""):
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [d.pk for d in deliveries], "index": 0, "since": since},
        follow=True,
    )


def test_attempts_are_shown_against_the_deliverys_own_maximum_not_its_id(operator, personas, simulator):
    _, delivery = _dead_delivery(personas, simulator, "tok-dl-count")
    EventDelivery.objects.filter(pk=delivery.pk).update(max_attempts=8)
    assert delivery.pk != 8

    listing = operator.get(CHANGELIST).content.decode()
    page = operator.get(reverse("admin:events_eventdelivery_change", args=[delivery.pk])).content.decode()

    assert "1 of 8" in listing
    assert "attempt 1 of 8" in page
    assert f"attempt 1 of {delivery.pk}" not in page


def test_an_unreadable_since_time_says_so_and_replays_nothing(operator, personas, simulator):
    _, delivery = _dead_delivery(personas, simulator, "tok-dl-since")

    response = _act(operator, "replay_dead_for_subscribers_since", [delivery], since="last tuesday")

    assert "The “since” time could not be read: write it as YYYY-MM-DD HH:MM" in " ".join(_messages(response))
    assert "No action selected." not in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 1)


def test_a_missing_since_time_is_asked_for(operator, personas, simulator):
    _, delivery = _dead_delivery(personas, simulator, "tok-dl-nosince")

    response = _act(operator, "replay_dead_for_subscribers_since", [delivery])

    assert "Give the time to replay from (“since”)." in _messages(response)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD


def test_a_dead_delivery_is_read_only_in_the_admin(operator, personas, simulator):
    _, delivery = _dead_delivery(personas, simulator, "tok-dl-readonly")
    url = reverse("admin:events_eventdelivery_change", args=[delivery.pk])

    page = operator.get(url).content.decode()
    posted = operator.post(url, {"last_error": "edited by hand", "status": "succeeded"})

    assert 'name="_save"' not in page
    assert posted.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD and delivery.last_error != "edited by hand"


def test_replaying_a_dead_delivery_to_an_active_integration_reports_it_replayed(
    operator, personas, simulator, eager_bus, django_capture_on_commit_callbacks  # noqa: F811
):
    _, delivery = _dead_delivery(personas, simulator, "tok-dl-replay")

    with django_capture_on_commit_callbacks(execute=True):
        response = _act(operator, "replay_selected", [delivery])

    assert "Replayed 1 delivery." in _messages(response)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED


def test_a_dead_delivery_to_a_disabled_webhook_endpoint_is_not_reported_replayed(operator, personas, receiver):
    # given a dead delivery to an endpoint the merchant then disabled
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    event = publish.publish(event_type="sale.completed", payload={"sale_id": "S-1"}, merchant=personas.colmado)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(webhook_endpoint=endpoint)
    EventDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD, attempts=8, max_attempts=8)
    webhook_endpoint_set_enabled(endpoint=endpoint, enabled=False)

    # when SystemAdmin replays it
    response = _act(operator, "replay_selected", [delivery])

    # then it is not counted, the reason is given, and it stays dead with its budget unchanged
    shown = _messages(response)
    assert "Replayed 0 deliveries." in shown
    assert any("Not replayed: its webhook endpoint is disabled." in message for message in shown)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.max_attempts) == (DeliveryStatus.DEAD, 8, 8)


def test_a_dead_delivery_to_a_disconnected_integration_is_not_reported_replayed(operator, personas, simulator):
    ledger, delivery = _dead_delivery(personas, simulator, "tok-dl-gone")
    configuring.merchant_integration_disconnect(integration=ledger, by=None)

    response = _act(operator, "replay_selected", [delivery])

    shown = _messages(response)
    assert "Replayed 0 deliveries." in shown
    assert any("Not replayed: its integration is disconnected." in message for message in shown)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.max_attempts) == (DeliveryStatus.DEAD, 1)
