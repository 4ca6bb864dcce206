"""Inbound webhooks: Shopify orders/create, verified, stored raw once, processed by a worker."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django_tenants.utils import schema_context

from integrations.services import configuring, enabling, transitions
from merchants.store.models import Product, StockLevel
from tests.factories import definition
from webhooks.models import InboundStatus, InboundWebhook

SECRET = "shpss_test_webhook_secret"
ORDER = {"id": 820982911946154508, "line_items": [{"sku": "CAFE-1LB", "quantity": 2}, {"sku": "ARROZ-5", "quantity": 1}]}


@pytest.fixture
def eager_tasks():
    from qiiub.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def shopify(personas, simulator):
    merchant = personas.colmado
    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition("ecommerce.shopify"), by=None)
    integration = configuring.merchant_integration_configure(
        integration=integration, configuration={"shop_domain": "colmado-rivera.myshopify.com"}, by=None
    )
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"admin_api_token": "shpat_demo", "webhook_secret": SECRET}, by=None
    )
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    integration = transitions.merchant_integration_activate(integration=integration, by=None)
    with schema_context(merchant.schema_name):
        for sku in ("CAFE-1LB", "ARROZ-5"):
            product = Product.objects.create(sku=sku, name=sku, price="4.99")
            StockLevel.objects.create(product=product, location_code="CR01", on_hand=10)
    return integration


def _headers(body: bytes, *, secret=SECRET, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", triggered=None):
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    triggered = triggered or datetime.now(UTC)
    return {
        "HTTP_X_SHOPIFY_HMAC_SHA256": signature,
        "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id,
        "HTTP_X_SHOPIFY_TOPIC": "orders/create",
        "HTTP_X_SHOPIFY_SHOP_DOMAIN": "colmado-rivera.myshopify.com",
        "HTTP_X_SHOPIFY_TRIGGERED_AT": triggered.isoformat().replace("+00:00", "Z"),
    }


def _post(client, integration, body: bytes, **headers):
    return client.post(
        reverse("inbound-webhook", args=[integration.pk]), data=body, content_type="application/json", **headers
    )


def _stock(merchant):
    with schema_context(merchant.schema_name):
        return dict(StockLevel.objects.values_list("product__sku", "on_hand"))


def test_an_order_deducts_inventory_once_even_when_shopify_sends_it_twice(
    client, shopify, eager_tasks, django_capture_on_commit_callbacks
):
    body = json.dumps(ORDER).encode()
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(client, shopify, body, **_headers(body))
    assert first.status_code == 200 and first.json() == {"ok": True, "duplicate": False}
    assert InboundWebhook.objects.get().status == InboundStatus.PROCESSED
    assert _stock(shopify.merchant) == {"CAFE-1LB": 8, "ARROZ-5": 9}

    with django_capture_on_commit_callbacks(execute=True):
        again = _post(client, shopify, body, **_headers(body))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert InboundWebhook.objects.count() == 1
    assert _stock(shopify.merchant) == {"CAFE-1LB": 8, "ARROZ-5": 9}


@pytest.mark.security
@pytest.mark.parametrize(
    "headers",
    [
        lambda body: _headers(body, secret="not-the-secret"),
        lambda body: {k: v for k, v in _headers(body).items() if k != "HTTP_X_SHOPIFY_HMAC_SHA256"},
        lambda body: _headers(body, triggered=datetime.now(UTC) - timedelta(hours=6)),
    ],
    ids=["wrong signature", "missing signature", "stale"],
)
def test_a_webhook_with_a_wrong_missing_or_stale_signature_gets_401_and_nothing_is_stored(client, shopify, headers):
    body = json.dumps(ORDER).encode()
    response = _post(client, shopify, body, **headers(body))
    assert response.status_code == 401
    assert not InboundWebhook.objects.exists()
    assert _stock(shopify.merchant) == {"CAFE-1LB": 10, "ARROZ-5": 10}


@pytest.mark.security
def test_a_webhook_carrying_a_card_number_is_refused_with_422_and_nothing_is_stored(client, shopify):
    body = json.dumps({**ORDER, "note": "paid with 4111 1111 1111 1111"}).encode()
    response = _post(client, shopify, body, **_headers(body))
    assert response.status_code == 422 and response.json()["error"] == "card_data_rejected"
    assert "4111" not in response.content.decode()
    assert not InboundWebhook.objects.exists()


def test_an_unknown_receiver_answers_404(client, personas):
    body = json.dumps(ORDER).encode()
    response = client.post(reverse("inbound-webhook", args=[999999]), data=body, content_type="application/json",
                           **_headers(body))
    assert response.status_code == 404 and not InboundWebhook.objects.exists()


def test_a_webhook_received_while_paused_is_applied_after_resume(client, shopify, eager_tasks, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from events.relay import sweep

    transitions.merchant_integration_pause(integration=shopify, by=None)
    body = json.dumps(ORDER).encode()
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, shopify, body, **_headers(body)).status_code == 200
    assert InboundWebhook.objects.get().status == InboundStatus.RECEIVED
    transitions.merchant_integration_resume(integration=shopify, by=None)
    InboundWebhook.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    sweep()
    assert InboundWebhook.objects.get().status == InboundStatus.PROCESSED
    assert _stock(shopify.merchant) == {"CAFE-1LB": 8, "ARROZ-5": 9}
