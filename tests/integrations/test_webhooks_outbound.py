"""Outbound webhooks: endpoint checks, Standard Webhooks signatures, Svix schedule, 410, 5 days."""

import json
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook

from events import dispatch, publish, relay
from events.models import DeliveryStatus, EventDelivery
from qiiub.errors import ValidationFailed
from qiiub.models import VaultSecret
from webhooks.models import DisabledReason, WebhookEndpoint
from webhooks.services import webhook_endpoint_create, webhook_endpoint_rotate_secret
from webhooks.targets import TargetRefused


def _deliver_sale(merchant, endpoint):
    event = publish.publish(event_type="sale.completed", payload={"sale_id": "S-77", "total": "9.99"}, merchant=merchant)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(webhook_endpoint=endpoint)
    return event, delivery, dispatch.deliver(delivery_id=delivery.pk)


@pytest.mark.security
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/x", "must use https://"),
        ("https://127.0.0.1/x", "private or local address"),
        ("https://localhost:8443/x", "private or local address"),
        ("https://10.1.2.3/x", "private or local address"),
        ("https://169.254.169.254/latest/meta-data", "private or local address"),
        ("https://[::1]/x", "private or local address"),
        ("https://no-such-host.invalid/x", "cannot be resolved"),
    ],
)
def test_an_endpoint_outside_https_or_on_a_private_address_is_refused_and_nothing_is_stored(personas, settings, url, message):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False  # as outside development
    secrets_before = VaultSecret.objects.count()
    with pytest.raises(TargetRefused, match=message):
        webhook_endpoint_create(merchant=personas.colmado, url=url, event_types=["sale.completed"])
    assert not WebhookEndpoint.objects.exists()
    assert VaultSecret.objects.count() == secrets_before


def test_an_unknown_event_type_is_refused(personas, receiver):
    with pytest.raises(ValidationFailed, match="Unknown event type"):
        webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.voided"])
    assert not WebhookEndpoint.objects.exists()


def test_a_delivery_is_signed_so_the_reference_library_verifies_it(personas, receiver):
    endpoint, secret = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    assert secret.startswith("whsec_")
    assert secret not in json.dumps(list(VaultSecret.objects.values_list("ciphertext", flat=True)))

    event, delivery, status = _deliver_sale(personas.colmado, endpoint)

    assert status == DeliveryStatus.SUCCEEDED
    request = receiver.received[-1]
    assert request.headers["webhook-id"] == str(event.pk)
    verified = Webhook(secret).verify(request.body, request.headers)
    assert verified["type"] == "sale.completed" and verified["data"]["sale_id"] == "S-77"
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 200 and '"ok"' in attempt.response_excerpt


def test_during_a_rotation_both_secrets_sign(personas, receiver):
    endpoint, old_secret = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    new_secret = webhook_endpoint_rotate_secret(endpoint=endpoint)
    _deliver_sale(personas.colmado, WebhookEndpoint.objects.get(pk=endpoint.pk))
    request = receiver.received[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(request.body, request.headers)


def test_a_failing_receiver_is_retried_on_svix_schedule_with_its_answer_logged(personas, receiver):
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    receiver.status = 500
    before = timezone.now()
    _, delivery, status = _deliver_sale(personas.colmado, endpoint)
    assert status == DeliveryStatus.PENDING
    delivery.refresh_from_db()
    assert before + timedelta(seconds=4) < delivery.next_attempt_at < before + timedelta(seconds=7)  # 5 s
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 500 and "receiver says no" in attempt.response_excerpt
    EventDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    dispatch.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at > timezone.now() + timedelta(minutes=4)  # then 5 min


def test_410_gone_disables_the_endpoint_and_emails_the_merchant_admins(personas, receiver, django_capture_on_commit_callbacks):
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    receiver.status = 410
    with django_capture_on_commit_callbacks(execute=True):
        _, delivery, status = _deliver_sale(personas.colmado, endpoint)
    assert status == DeliveryStatus.DEAD
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == DisabledReason.GONE
    assert mail.outbox[-1].to == ["admin@colmadorivera.local"] and endpoint.url in mail.outbox[-1].body


def test_an_endpoint_failing_for_five_days_is_disabled(personas, receiver, django_capture_on_commit_callbacks):
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=5, minutes=1))
    receiver.status = 503
    with django_capture_on_commit_callbacks(execute=True):
        _deliver_sale(personas.colmado, endpoint)
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == DisabledReason.FAILING
    assert "5 días" in mail.outbox[-1].body  # in Colmado Rivera's language: Spanish
    assert len(mail.outbox) == 1


def test_a_success_clears_the_failing_clock(personas, receiver):
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=2))
    _deliver_sale(personas.colmado, endpoint)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.enabled


def test_a_merchant_admin_adds_an_endpoint_sees_its_secret_once_and_sends_a_test_event(client, personas, receiver):
    from django.urls import reverse

    client.force_login(personas.retail_admin)
    url = reverse("portal:webhooks", args=[personas.colmado.slug])
    # a mistake first: the error is next to the field and nothing is stored
    response = client.post(url, {"url": "http://insecure.example.com/hook", "event_types": ["sale.completed"]})
    assert response.status_code == 422 and "must use https://" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()

    # accepted: a redirect to the endpoint's page (Post/Redirect/Get), which shows the secret once
    response = client.post(url, {"url": receiver.url, "description": "ERP", "event_types": ["sale.completed", "shift.closed"]})
    endpoint = WebhookEndpoint.objects.get()
    detail = reverse("portal:webhook", args=[personas.colmado.slug, endpoint.pk])
    assert response.status_code == 302 and response["Location"] == detail
    page = client.get(detail).content.decode()
    secret = page.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    assert endpoint.event_types == ["sale.completed", "shift.closed"]
    assert secret not in client.get(detail).content.decode()  # a reload does not show it again
    assert secret not in client.get(url).content.decode()

    response = client.post(reverse("portal:webhook-test", args=[personas.colmado.slug, endpoint.pk]), follow=True)
    assert "Test event delivered: your endpoint answered 200" in response.content.decode()
    Webhook(secret).verify(receiver.received[-1].body, receiver.received[-1].headers)


@pytest.mark.security
def test_another_merchants_endpoint_answers_404(client, personas, receiver):
    from django.urls import reverse

    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    client.force_login(personas.merchant_admin)
    for name in ("webhook",):
        assert client.get(reverse(f"portal:{name}", args=[personas.colmado.slug, endpoint.pk])).status_code == 404
    for name in ("webhook-test", "webhook-rotate", "webhook-toggle", "webhook-retry"):
        assert client.post(reverse(f"portal:{name}", args=[personas.colmado.slug, endpoint.pk])).status_code == 404
    assert client.post(reverse("portal:webhook-toggle", args=[personas.san_juan.slug, endpoint.pk])).status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.enabled and receiver.received == []


@pytest.mark.fault
def test_a_receiver_that_times_out_is_retried_and_one_answering_429_waits_its_retry_after(personas, receiver, settings):
    settings.WEBHOOK_TIMEOUT_S = 1
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    receiver.delay_s = 2
    _, delivery, status = _deliver_sale(personas.colmado, endpoint)
    assert status == DeliveryStatus.PENDING
    assert "did not answer within 1 s" in delivery.attempt_log.get().error

    receiver.delay_s = 0
    receiver.status, receiver.headers = 429, {"Retry-After": "900"}  # longer than the 5 min the schedule says
    EventDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    before = timezone.now()
    dispatch.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at >= before + timedelta(seconds=900)
    assert delivery.attempt_log.first().status_code == 429

    # a wait given as an HTTP-date (RFC 9110), longer than the 30 min the schedule says next, alike
    receiver.headers = {"Retry-After": format_datetime(timezone.now() + timedelta(seconds=3000), usegmt=True)}
    EventDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    before = timezone.now()
    dispatch.deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert before + timedelta(seconds=2990) <= delivery.next_attempt_at <= before + timedelta(seconds=3010)


def test_a_worker_records_a_webhook_success_outside_any_test_transaction(committed, receiver):
    # given an endpoint, and no transaction around the delivery, as on a worker
    endpoint, _ = webhook_endpoint_create(merchant=committed.colmado, url=receiver.url, event_types=["sale.completed"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(hours=1))

    _, delivery, status = _deliver_sale(committed.colmado, endpoint)

    assert status == DeliveryStatus.SUCCEEDED
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


@pytest.mark.security
def test_a_receiver_answer_holding_a_card_number_is_stored_and_shown_masked(personas, receiver):
    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    receiver.status, receiver.body = 500, b'{"error": "card 4111 1111 1111 1111 declined"}'
    _, delivery, _ = _deliver_sale(personas.colmado, endpoint)
    attempt = delivery.attempt_log.get()
    assert "4111 11XX XXXX 1111" in attempt.response_excerpt and "1111 1111 1111" not in attempt.response_excerpt
