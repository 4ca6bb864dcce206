"""The merchant's webhook endpoint pages: Post/Redirect/Get, the secret shown once across the
redirect, edit and delete, the per-delivery page (request sent, each attempt's answer or its
connection / TLS error as a code), test sends in the log, resend, a disabled endpoint's reason."""

import json
import socket

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from events import dispatch, publish, relay
from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery
from qiiub.models import VaultSecret
from simulators.webhook_receiver import WebhookReceiver
from webhooks.models import DisabledReason, WebhookEndpoint
from webhooks.services import webhook_delivery_resend, webhook_endpoint_create


@pytest.fixture
def admin(client, personas):
    client.force_login(personas.retail_admin)
    return client


@pytest.fixture
def endpoint(personas, receiver):
    created, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    return created


def _page(personas, name, *args):
    return reverse(f"portal:{name}", args=[personas.colmado.slug, *args])


def _deliver_sale(merchant, endpoint):
    event = publish.publish(event_type="sale.completed", payload={"sale_id": "S-91", "total": "4.50"}, merchant=merchant)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(webhook_endpoint=endpoint)
    dispatch.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.parametrize("action", ["webhook-test", "webhook-rotate", "webhook-toggle", "webhook-retry"])
def test_opening_a_buttons_address_leads_back_to_the_endpoint_page_not_a_405(admin, personas, endpoint, receiver, action):
    response = admin.get(_page(personas, action, endpoint.pk))

    assert response.status_code == 302 and response["Location"] == _page(personas, "webhook", endpoint.pk)
    assert receiver.received == []
    endpoint.refresh_from_db()
    assert endpoint.enabled


@pytest.mark.security
def test_a_rotated_secret_survives_the_redirect_once_and_never_rests_in_the_session(admin, personas, endpoint):
    # when the secret is rotated (a POST that redirects)
    response = admin.post(_page(personas, "webhook-rotate", endpoint.pk))
    assert response.status_code == 302 and response["Location"] == _page(personas, "webhook", endpoint.pk)

    # then the session holds which secret to reveal, not the secret
    endpoint.refresh_from_db()
    from qiiub.vault import read_secret
    secret = read_secret(endpoint.secret_vault_key)["secret"]
    stored = Session.objects.get(session_key=admin.session.session_key)
    assert secret not in stored.session_data and secret not in json.dumps(stored.get_decoded())

    # the next view of the page shows it, uncacheable; a reload or Back does not
    page = admin.get(_page(personas, "webhook", endpoint.pk))
    assert f'id="new-secret">{secret}<' in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert secret not in admin.get(_page(personas, "webhook", endpoint.pk)).content.decode()


def test_every_field_error_is_reported_at_once_and_nothing_is_stored(admin, personas):
    secrets_before = VaultSecret.objects.count()

    response = admin.post(_page(personas, "webhooks"), {"url": "", "description": "x" * 201})

    page = response.content.decode()
    assert response.status_code == 422
    assert "Enter your endpoint&#x27;s URL." in page
    assert "Use at most 200 characters." in page
    assert "Choose at least one." in page
    assert not WebhookEndpoint.objects.exists() and VaultSecret.objects.count() == secrets_before


def test_an_endpoint_is_edited_with_the_same_checks_as_at_creation(admin, personas, endpoint, receiver):
    # a refused edit shows every error, keeps what was typed, and changes nothing
    response = admin.post(_page(personas, "webhook-edit", endpoint.pk),
                          {"url": "http://hooks.example.com/x", "description": "ERP", "event_types": ["sale.voided"]})
    page = response.content.decode()
    assert response.status_code == 422
    assert "must use https://" in page and "Unknown event type" in page and 'value="http://hooks.example.com/x"' in page
    endpoint.refresh_from_db()
    assert endpoint.url == receiver.url and endpoint.event_types == ["sale.completed"] and endpoint.description == ""

    # an accepted one redirects to the endpoint's page
    new_url = receiver.url.replace("/hooks/qiiub", "/hooks/v2")
    response = admin.post(_page(personas, "webhook-edit", endpoint.pk),
                          {"url": new_url, "description": "ERP", "event_types": ["shift.closed", "sale.completed"]})
    assert response.status_code == 302 and response["Location"] == _page(personas, "webhook", endpoint.pk)
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (new_url, "ERP", ["sale.completed", "shift.closed"])


def test_deleting_an_endpoint_says_how_many_pending_deliveries_are_dropped(
    admin, personas, endpoint, receiver, django_capture_on_commit_callbacks
):
    # given one delivery waiting for its retry
    receiver.status = 503
    delivery = _deliver_sale(personas.colmado, endpoint)
    assert delivery.status == DeliveryStatus.PENDING
    vault_keys = [endpoint.secret_vault_key]

    confirmation = admin.get(_page(personas, "webhook-delete", endpoint.pk)).content.decode()
    assert "1 pending delivery will be dropped" in confirmation

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(_page(personas, "webhook-delete", endpoint.pk), follow=True)

    assert "Endpoint deleted; 1 pending delivery was dropped." in response.content.decode()
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert not EventDelivery.objects.filter(pk=delivery.pk).exists()
    assert not VaultSecret.objects.filter(key__in=vault_keys).exists()


@pytest.mark.security
def test_the_delivery_page_shows_the_signed_request_and_the_answer_masked_and_when_it_is_retried(
    admin, personas, endpoint, receiver
):
    # given a receiver that refuses, with a card number and a cookie in its answer
    receiver.status = 500
    receiver.headers = {"X-Debug": "card 4111 1111 1111 1111", "Set-Cookie": "session=receiver-own-secret"}
    delivery = _deliver_sale(personas.colmado, endpoint)
    attempt = delivery.attempt_log.get()

    page = admin.get(_page(personas, "webhook-delivery", endpoint.pk, delivery.pk)).content.decode()

    # the request we sent: its signature header and the body
    sent = receiver.received[-1].headers
    assert attempt.request_headers["webhook-signature"] == sent["webhook-signature"]
    assert sent["webhook-signature"] in page and '&quot;sale_id&quot;:&quot;S-91&quot;' in page
    # the answer: status, headers (card masked, cookies never kept), body excerpt, and the next retry
    assert attempt.error_code == "http_status" and attempt.error_params == {"status": 500}
    assert "The endpoint answered 500." in page and "receiver says no" in page
    assert attempt.response_headers["x-debug"] == "card 4111 11XX XXXX 1111" and "set-cookie" not in attempt.response_headers
    assert "1111 1111 1111" not in page and "receiver-own-secret" not in page
    assert "Next retry:" in page


@pytest.mark.fault
def test_a_tls_failure_is_recorded_as_a_code_with_the_librarys_reason(admin, personas, settings):
    expired = WebhookReceiver(expired_certificate=True).start()
    try:
        settings.WEBHOOK_CA_BUNDLE = expired.cert_path  # trusted, but out of date
        endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=expired.url, event_types=["sale.completed"])
        delivery = _deliver_sale(personas.colmado, endpoint)
    finally:
        expired.stop()

    attempt = delivery.attempt_log.get()
    assert attempt.error_code == "tls_error" and "certificate has expired" in attempt.error_params["reason"]
    assert attempt.status_code is None and attempt.request_headers["webhook-id"] == str(delivery.event_id)
    page = admin.get(_page(personas, "webhook", endpoint.pk)).content.decode()
    assert "The secure (TLS) connection to the endpoint failed: certificate has expired" in page
    assert "service is down" not in page


@pytest.mark.fault
def test_an_endpoint_refusing_connections_is_recorded_with_the_connection_error(admin, personas, receiver):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=f"https://127.0.0.1:{closed_port}/hooks",
                                          event_types=["sale.completed"])

    delivery = _deliver_sale(personas.colmado, endpoint)

    attempt = delivery.attempt_log.get()
    assert (attempt.error_code, attempt.error_params) == ("connection_error", {"reason": "Connection refused"})
    page = admin.get(_page(personas, "webhook-delivery", endpoint.pk, delivery.pk)).content.decode()
    assert "The endpoint could not be reached: Connection refused" in page and "No response was received." in page


def test_a_test_send_is_recorded_in_the_log_as_a_test_and_never_disables_the_endpoint(admin, personas, endpoint, receiver):
    receiver.status = 410

    response = admin.post(_page(personas, "webhook-test", endpoint.pk), follow=True)

    page = response.content.decode()
    assert "Test event not delivered. The endpoint answered 410 Gone" in page
    assert '<span class="badge">test</span>' in page
    attempt = DeliveryAttempt.objects.get(delivery__webhook_endpoint=endpoint)
    assert attempt.delivery.event.event_type == "webhook.test" and attempt.error_code == "gone"
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since is None
    assert "Retry 1 failed" not in page  # a test is not a failed delivery to replay


def test_resending_a_delivered_event_makes_a_new_attempt_with_the_same_webhook_id(admin, personas, endpoint, receiver):
    delivery = _deliver_sale(personas.colmado, endpoint)
    assert delivery.status == DeliveryStatus.SUCCEEDED

    response = admin.post(_page(personas, "webhook-delivery-resend", endpoint.pk, delivery.pk), follow=True)

    assert "Delivered: your endpoint answered 200" in response.content.decode()
    assert list(delivery.attempt_log.values_list("number", "succeeded")) == [(2, True), (1, True)]
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"] == str(delivery.event_id)


def test_a_failed_delivery_resent_and_failing_again_stays_failed_with_one_more_attempt(personas, endpoint, receiver):
    receiver.status = 500
    delivery = _deliver_sale(personas.colmado, endpoint)
    EventDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.DEAD, max_attempts=1)

    delivery = webhook_delivery_resend(delivery=delivery)

    assert delivery.status == DeliveryStatus.DEAD and delivery.attempts == 2 and len(receiver.received) == 2


def test_a_disabled_endpoint_says_why_offers_enable_and_refuses_a_resend(admin, personas, endpoint, receiver):
    # given an endpoint disabled by a 410, with a delivery that was refused
    receiver.status = 410
    delivery = _deliver_sale(personas.colmado, endpoint)
    endpoint.refresh_from_db()
    assert endpoint.disabled_reason == DisabledReason.GONE

    page = admin.get(_page(personas, "webhook", endpoint.pk)).content.decode()
    assert "This endpoint is disabled" in page and "The endpoint answered 410 Gone, which asks senders to stop." in page
    assert f'action="{_page(personas, "webhook-toggle", endpoint.pk)}"' in page and ">Enable</button>" in page

    response = admin.post(_page(personas, "webhook-delivery-resend", endpoint.pk, delivery.pk), follow=True)
    assert "Enable the endpoint first" in response.content.decode() and len(receiver.received) == 1


@pytest.mark.security
def test_another_merchants_endpoint_pages_answer_404(client, personas, endpoint, receiver):
    delivery = _deliver_sale(personas.colmado, endpoint)
    client.force_login(personas.merchant_admin)

    for name, args in (("webhook-edit", [endpoint.pk]), ("webhook-delete", [endpoint.pk]),
                       ("webhook-delivery", [endpoint.pk, delivery.pk])):
        assert client.get(_page(personas, name, *args)).status_code == 404
    for name, args in (("webhook-edit", [endpoint.pk]), ("webhook-delete", [endpoint.pk]),
                       ("webhook-delivery-resend", [endpoint.pk, delivery.pk])):
        assert client.post(_page(personas, name, *args), {"url": "https://evil.example.com/x"}).status_code == 404
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).url == receiver.url and len(receiver.received) == 1
