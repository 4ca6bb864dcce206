"""The event bus: outbox, derived subscriptions, delivery with retries, held, dead, replay, sweep."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events import dispatch, publish, relay, replay
from events.models import DeliveryStatus, EventDailyCount, EventDelivery, OutboxEvent
from events.types import UnknownEventType
from integrations.models import MerchantIntegration, PausedReason, Status
from integrations.services import configuring, enabling, transitions
from qiiub.errors import CardDataRejected, NotAllowed
from tests.factories import definition

SALE = {"sale_id": "S-1001", "total": "12.50", "tenders": [{"kind": "card", "last4": "1111", "amount": "12.50"}]}



def _active(merchant, code, token):
    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition(code), by=None)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"access_token": token}, by=None
    )
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    return transitions.merchant_integration_activate(integration=integration, by=None)


def _publish(merchant, payload=SALE, event_type="sale.completed"):
    with transaction.atomic():
        return publish.publish(event_type=event_type, payload=payload, merchant=merchant)


def test_an_event_exists_only_if_the_business_transaction_commits(personas):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish.publish(event_type="sale.completed", payload=SALE, merchant=personas.colmado)
        raise RuntimeError("the sale failed to save")
    assert not OutboxEvent.objects.exists()


def test_an_unknown_event_type_is_refused_and_nothing_is_stored(personas):
    with pytest.raises(UnknownEventType, match="Unknown event type 'sale.refunded'"):
        publish.publish(event_type="sale.refunded", payload=SALE, merchant=personas.colmado)
    assert not OutboxEvent.objects.exists()


@pytest.mark.security
def test_a_payload_with_a_card_number_is_refused_and_nothing_is_stored(personas):
    payload = {**SALE, "tenders": [{"kind": "card", "memo": "4111-1111-1111-1111"}]}
    with pytest.raises(CardDataRejected) as error:
        publish.publish(event_type="sale.completed", payload=payload, merchant=personas.colmado)
    assert error.value.field_path == "payload.tenders[0].memo"
    assert not OutboxEvent.objects.exists()


def test_subscriptions_are_derived_from_active_integrations_event_types_and_the_analytics_sink(
    personas, simulator, django_capture_on_commit_callbacks
):
    # given a sandbox ledger active (it takes every sale), QuickBooks Online enabled (it posts a nightly journal and
    # takes no events), Shopify configuring
    merchant = personas.colmado
    ledger = _active(merchant, "sandbox.accounting_one", "tok-ev-ledger")
    enabling.merchant_integration_enable(merchant=merchant, definition=definition("accounting.quickbooks_online"), by=None)
    enabling.merchant_integration_enable(merchant=merchant, definition=definition("ecommerce.shopify"), by=None)

    # when a sale is published and relayed
    event = _publish(merchant)
    relayed = relay.fan_out(event_ids=[event.pk])

    # then one delivery per subscriber (the ledger, pending), and the analytics sink counted within the fan-out
    rows = {row.subscriber_key: row.status for row in event.deliveries.all()}
    assert rows == {f"integration:{ledger.pk}": DeliveryStatus.PENDING}
    assert relayed == (1, [event.deliveries.get(merchant_integration=ledger).pk])
    assert EventDailyCount.objects.get(merchant=merchant, event_type="sale.completed").count == 1
    # and relaying again adds nothing
    assert relay.fan_out(event_ids=[event.pk]) == (0, [])
    assert event.deliveries.count() == 1
    # while the ledger is paused, its deliveries are held
    transitions.merchant_integration_pause(integration=ledger, by=None)
    held = _publish(merchant)
    relay.fan_out(event_ids=[held.pk])
    assert held.deliveries.get(merchant_integration=ledger).status == DeliveryStatus.HELD


def test_a_delivery_reaches_the_vendor_once_with_the_event_id_as_idempotency_key(
    personas, simulator, eager_bus, django_capture_on_commit_callbacks
):
    ledger = _active(personas.colmado, "sandbox.accounting_one", "tok-ev-once")
    with django_capture_on_commit_callbacks(execute=True):
        event = _publish(personas.colmado)
    delivery = event.deliveries.get(merchant_integration=ledger)
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    assert simulator.state.events[str(event.pk)] == {"type": "sale.completed", "data": SALE}
    assert EventDailyCount.objects.get(merchant=personas.colmado, event_type="sale.completed").count == 1

    # a second send of the same delivery (a duplicate task) does nothing
    posts = simulator.state.event_posts
    assert dispatch.deliver(delivery_id=delivery.pk) is None
    assert simulator.state.event_posts == posts


def _make_due(delivery):
    EventDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_failures_retry_with_backoff_count_toward_the_lifecycle_and_end_dead(
    personas, simulator, django_capture_on_commit_callbacks
):
    # given an active ledger whose vendor answers 500
    ledger = _active(personas.colmado, "sandbox.accounting_one", "tok-ev-fail")
    simulator.control("tok-ev-fail", fail_status=500)
    event = _publish(personas.colmado)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(merchant_integration=ledger)

    # when it is attempted: it waits with backoff and the failure is counted
    before = timezone.now()
    assert dispatch.deliver(delivery_id=delivery.pk) == DeliveryStatus.PENDING
    delivery.refresh_from_db()
    assert delivery.next_attempt_at > before + timedelta(seconds=4)
    assert "answered 500" in delivery.last_error
    assert delivery.attempt_log.get().succeeded is False
    assert dispatch.deliver(delivery_id=delivery.pk) is None  # not due yet

    # the third consecutive failure auto-pauses the integration; its delivery is then held
    for _ in range(2):
        _make_due(delivery)
        dispatch.deliver(delivery_id=delivery.pk)
    ledger.refresh_from_db()
    assert (ledger.status, ledger.paused_reason) == (Status.PAUSED, PausedReason.AUTO)
    _make_due(delivery)
    assert dispatch.deliver(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.HELD
    simulator.control("tok-ev-fail", fail_status=None)


def test_after_the_maximum_attempts_a_delivery_is_dead_and_replay_delivers_it(
    personas, simulator, eager_bus, django_capture_on_commit_callbacks
):
    ledger = _active(personas.colmado, "sandbox.accounting_one", "tok-ev-dead")
    simulator.control("tok-ev-dead", fail_status=503)
    event = _publish(personas.colmado)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(merchant_integration=ledger)
    EventDelivery.objects.filter(pk=delivery.pk).update(max_attempts=2)
    dispatch.deliver(delivery_id=delivery.pk)
    _make_due(delivery)
    assert dispatch.deliver(delivery_id=delivery.pk) == DeliveryStatus.DEAD
    assert delivery.attempt_log.count() == 2

    simulator.control("tok-ev-dead", fail_status=None)
    with django_capture_on_commit_callbacks(execute=True):
        replay.delivery_replay(delivery=delivery, by=personas.sysadmin)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3
    assert str(event.pk) in simulator.state.events


def test_replaying_a_delivery_that_succeeded_is_refused_and_says_so(personas, simulator, eager_bus, django_capture_on_commit_callbacks):
    ledger = _active(personas.colmado, "sandbox.accounting_one", "tok-ev-replay-done")
    with django_capture_on_commit_callbacks(execute=True):
        event = _publish(personas.colmado)
    delivery = event.deliveries.get(merchant_integration=ledger)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    with pytest.raises(NotAllowed, match="already succeeded"):
        replay.delivery_replay(delivery=delivery, by=personas.sysadmin)
    assert EventDailyCount.objects.get(merchant=personas.colmado).count == 1


def test_a_rate_limited_delivery_waits_at_least_the_retry_after_the_vendor_asked_for(personas, simulator):
    ledger = _active(personas.colmado, "sandbox.accounting_one", "tok-ev-429")
    simulator.control("tok-ev-429", fail_status=429)  # the simulator sends Retry-After: 30
    event = _publish(personas.colmado)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(merchant_integration=ledger)
    before = timezone.now()
    dispatch.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at >= before + timedelta(seconds=30)
    simulator.control("tok-ev-429", fail_status=None)


def test_held_deliveries_go_out_when_the_integration_is_resumed(
    personas, simulator, eager_bus, django_capture_on_commit_callbacks
):
    ledger = _active(personas.colmado, "sandbox.accounting_one", "tok-ev-held")
    transitions.merchant_integration_pause(integration=ledger, by=None)
    with django_capture_on_commit_callbacks(execute=True):
        event = _publish(personas.colmado)
    delivery = event.deliveries.get(merchant_integration=ledger)
    assert delivery.status == DeliveryStatus.HELD and str(event.pk) not in simulator.state.events

    with django_capture_on_commit_callbacks(execute=True):
        transitions.merchant_integration_resume(integration=MerchantIntegration.objects.get(pk=ledger.pk), by=None)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert str(event.pk) in simulator.state.events


def test_the_sweep_relays_events_the_on_commit_relay_missed(personas, simulator, eager_bus):
    # given an event whose on-commit relay never ran (process killed, broker down)
    _active(personas.colmado, "sandbox.accounting_one", "tok-ev-sweep")
    event = _publish(personas.colmado)  # on-commit callbacks do not run in this test's transaction
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    # when the sweep runs, then it is relayed and delivered
    assert relay.sweep()["relayed"] == 1
    assert set(event.deliveries.values_list("status", flat=True)) == {DeliveryStatus.SUCCEEDED}
    assert str(event.pk) in simulator.state.events
    assert relay.sweep() == {"relayed": 0, "resent": 0}


def test_the_sweep_resends_a_lapsed_lease_at_once_and_a_queued_delivery_only_once_presumed_lost(
    personas, simulator, eager_bus, settings
):
    # given two pending ledger deliveries: one whose worker died mid-call (its lease lapsed),
    # one just sent to the bus and still queued behind a backlog
    ledger = _active(personas.colmado, "sandbox.accounting_one", "tok-ev-resend")
    crashed, queued = _publish(personas.colmado), _publish(personas.colmado)
    relay.fan_out(event_ids=[crashed.pk, queued.pk])
    EventDelivery.objects.filter(event=crashed, merchant_integration=ledger).update(
        attempts=1, leased_until=timezone.now() - timedelta(seconds=1)
    )

    # when the sweep runs: the lapsed lease goes again now; the queued one is left to its message
    assert relay.sweep()["resent"] == 1
    assert crashed.deliveries.get(merchant_integration=ledger).status == DeliveryStatus.SUCCEEDED
    assert queued.deliveries.get(merchant_integration=ledger).status == DeliveryStatus.PENDING

    # and once nobody has claimed it for EVENT_RESEND_AFTER_S, its message is presumed lost
    EventDelivery.objects.filter(event=queued, merchant_integration=ledger).update(
        updated_at=timezone.now() - timedelta(seconds=settings.EVENT_RESEND_AFTER_S + 1)
    )
    assert relay.sweep()["resent"] == 1
    assert queued.deliveries.get(merchant_integration=ledger).status == DeliveryStatus.SUCCEEDED


def _dead_delivery(personas, simulator, token):
    ledger = _active(personas.colmado, "sandbox.accounting_one", token)
    simulator.control(token, fail_status=500)
    event = _publish(personas.colmado)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(merchant_integration=ledger)
    EventDelivery.objects.filter(pk=delivery.pk).update(max_attempts=1)
    assert dispatch.deliver(delivery_id=delivery.pk) == DeliveryStatus.DEAD
    delivery.refresh_from_db()
    # its attempt keeps the error as a code and parameters, for each reader's language
    attempt = delivery.attempt_log.get()
    assert (attempt.error_code, attempt.error_params["status"]) == ("vendor_status", 500)
    simulator.control(token, fail_status=None)
    return ledger, delivery


def test_a_merchant_admin_sees_a_dead_delivery_and_retries_it(client, personas, simulator, eager_bus, django_capture_on_commit_callbacks):
    from django.urls import reverse

    from integrations.selectors import integrations_for_merchant

    ledger, delivery = _dead_delivery(personas, simulator, "tok-ev-portal")
    client.force_login(personas.retail_admin)
    page = client.get(reverse("portal:integration", args=[personas.colmado.slug, ledger.pk])).content.decode()
    assert "Failed deliveries" in page and "sale.completed" in page and "Sandbox ledger 1 answered 500." in page
    # a dead delivery says so, not that it is retrying
    failed = page[page.index('id="failed-deliveries"'):]
    assert "No more automatic retries" in failed and "next try" not in failed
    last_day = integrations_for_merchant(personas.colmado).get(pk=ledger.pk)
    assert (last_day.successes_24h, last_day.failures_24h) == (0, 1)  # the failed delivery counts in "last 24 h"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:retry-delivery", args=[personas.colmado.slug, ledger.pk, delivery.pk]))
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    last_day = integrations_for_merchant(personas.colmado).get(pk=ledger.pk)
    assert (last_day.successes_24h, last_day.failures_24h) == (1, 1)


@pytest.mark.security
def test_another_merchants_delivery_cannot_be_retried_by_url(client, personas, simulator):
    from django.urls import reverse

    ledger, delivery = _dead_delivery(personas, simulator, "tok-ev-scope")
    client.force_login(personas.merchant_admin)  # Farmacia San Juan's admin
    assert client.post(reverse("portal:retry-delivery", args=[personas.colmado.slug, ledger.pk, delivery.pk])).status_code == 404
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD


def test_system_admin_replays_everything_dead_for_a_subscriber_since_a_time(client, personas, simulator, eager_bus, django_capture_on_commit_callbacks):
    from django.urls import reverse

    ledger, first = _dead_delivery(personas, simulator, "tok-ev-admin")
    simulator.control("tok-ev-admin", fail_status=500)
    second_event = _publish(personas.colmado)
    relay.fan_out(event_ids=[second_event.pk])
    second = second_event.deliveries.get(merchant_integration=ledger)
    EventDelivery.objects.filter(pk=second.pk).update(max_attempts=1)
    dispatch.deliver(delivery_id=second.pk)
    simulator.control("tok-ev-admin", fail_status=None)

    client.force_login(personas.sysadmin)
    changelist = reverse("admin:events_eventdelivery_changelist")
    page = client.get(changelist, {"status__exact": "dead"}).content.decode()
    assert f"integration:{ledger.pk}" in page and f"({settings.PORTAL_TIME_ZONE})" in page  # the hours it reads
    since = (timezone.now() - timedelta(hours=1)).astimezone(ZoneInfo(settings.PORTAL_TIME_ZONE))
    since = since.strftime("%Y-%m-%d %H:%M:%S")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "replay_dead_for_subscribers_since", "_selected_action": [first.pk], "since": since})
    assert set(EventDelivery.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {
        DeliveryStatus.SUCCEEDED
    }
    detail = client.get(reverse("admin:events_eventdelivery_change", args=[first.pk])).content.decode()
    assert "S-1001" in detail and "answered 500" in detail
