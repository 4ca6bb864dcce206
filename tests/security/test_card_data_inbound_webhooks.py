"""Card numbers pushed through inbound Shopify webhooks: the signed body's text fields, the headers
stored with it (webhook id, topic), and a body that repeats a key. Real order data of every kind
must be accepted and stored as sent. The machinery is in card_inbound.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import uuid
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from integrations.services import configuring, enabling, transitions
from tests.card_corpus import MUST_PASS, must_pass_values
from tests.factories import definition
from tests.security.card_inbound import (
    OTHER_PATH_CASES,
    SEED,
    Findings,
    assert_nothing_stored_and_not_logged,
    cases,
    fits_a_header,
    refused_with,
    with_field,
)
from webhooks.models import InboundWebhook

pytestmark = [pytest.mark.security, pytest.mark.slow]

SHOPIFY_WEBHOOK_CASES = 420
MUST_PASS_WEBHOOK_PER_KIND = 8  # x 12 kinds through the Shopify webhook


# --- Inbound Shopify webhooks ---------------------------------------------------------------

WEBHOOK_SECRET = "shpss_inbound_paths_secret"
ORDER = {"id": 820982911946154508, "note": "Entregar en la tarde", "email": "cliente@example.com",
         "line_items": [{"id": 466157049, "sku": "CAFE-1LB", "title": "Café Yaucono", "name": "Café Yaucono - 1 lb",
                         "quantity": 2}],
         "note_attributes": [{"name": "gift_message", "value": "Feliz cumpleaños"}],
         "shipping_address": {"address1": "Calle Loíza 1500", "city": "San Juan", "zip": "00911"}}


@pytest.fixture
def shopify(personas):
    integration = enabling.merchant_integration_enable(merchant=personas.colmado,
                                                        definition=definition("ecommerce.shopify"), by=None)
    integration = configuring.merchant_integration_configure(
        integration=integration, configuration={"shop_domain": "colmado-rivera.myshopify.com"}, by=None)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"admin_api_token": "shpat_demo", "webhook_secret": WEBHOOK_SECRET},
        by=None)
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    return transitions.merchant_integration_activate(integration=integration, by=None)


def _signed(body: bytes, *, webhook_id: str | None = None, topic: str = "orders/create") -> dict:
    signature = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "HTTP_X_SHOPIFY_HMAC_SHA256": signature, "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or str(uuid.uuid4()),
        "HTTP_X_SHOPIFY_TOPIC": topic, "HTTP_X_SHOPIFY_SHOP_DOMAIN": "colmado-rivera.myshopify.com",
        "HTTP_X_SHOPIFY_TRIGGERED_AT": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def _post_webhook(client, integration, order: dict, **headers):
    body = json.dumps(order, ensure_ascii=False).encode()
    return client.post(reverse("inbound-webhook", args=[integration.pk]), data=body, content_type="application/json",
                       **(headers or _signed(body)))


SHOPIFY_TEXT_FIELDS = ["note", "line_items[0].title", "line_items[0].name", "note_attributes[0].value",
                       "shipping_address.address1"]


def test_a_signed_shopify_webhook_carrying_a_card_number_is_refused_and_nothing_is_stored(client, shopify,
                                                                                           debug_logs):
    corpus = cases("shopify-webhook", SHOPIFY_TEXT_FIELDS, SHOPIFY_WEBHOOK_CASES)
    findings = Findings("POST /hooks/in/<id>/ (Shopify)")
    before = {"InboundWebhook": InboundWebhook.objects.count()}

    for case in corpus:
        response = _post_webhook(client, shopify, with_field(ORDER, case.field, case.value))
        refused_with(findings, case, response, field=f"body.{case.field}")

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before,
                                         {"InboundWebhook": InboundWebhook.objects.count()})


def test_real_order_data_of_every_kind_in_a_signed_shopify_webhook_is_accepted_and_stored(client, shopify):
    rng = random.Random(f"{SEED}:shopify-must-pass")
    refused = []
    for kind, (field_name, _) in MUST_PASS.items():
        for value in must_pass_values(kind, rng, MUST_PASS_WEBHOOK_PER_KIND):
            # a barcode where Shopify sends one (a line item's sku or barcode), the rest in the note
            if field_name in ("barcode", "upc", "gtin"):
                order = with_field(ORDER, "line_items[0].sku", value)
            else:
                order = with_field(ORDER, "note", value)
            webhook_id = str(uuid.uuid4())
            body = json.dumps(order, ensure_ascii=False).encode()
            response = _post_webhook(client, shopify, order, **_signed(body, webhook_id=webhook_id))
            if response.status_code != 200:
                refused.append(f"{kind}: {value!r} answered {response.status_code}")
            elif json.loads(InboundWebhook.objects.get(vendor_webhook_id=webhook_id).body) != order:
                refused.append(f"{kind}: {value!r} not stored as sent")
    assert not refused, "\n".join(refused)
    assert InboundWebhook.objects.count() == len(MUST_PASS) * MUST_PASS_WEBHOOK_PER_KIND


@pytest.mark.parametrize("header", ["X-Shopify-Webhook-Id", "X-Shopify-Topic"])
def test_a_card_number_in_a_stored_shopify_header_is_refused_and_not_stored(client, shopify, debug_logs, header):
    # given a body Shopify signed; the webhook id and topic headers are stored with it, unsigned
    corpus = cases(f"shopify-header-{header}", [header], OTHER_PATH_CASES, keep=fits_a_header)
    findings = Findings(f"POST /hooks/in/<id>/ {header}")
    body = json.dumps(ORDER).encode()
    before = {"InboundWebhook": InboundWebhook.objects.count()}

    for case in corpus:
        headers = _signed(body, webhook_id=case.value) if header == "X-Shopify-Webhook-Id" else _signed(
            body, topic=case.value)
        response = client.post(reverse("inbound-webhook", args=[shopify.pk]), data=body,
                               content_type="application/json", **headers)
        refused_with(findings, case, response)

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before,
                                         {"InboundWebhook": InboundWebhook.objects.count()})


def test_a_signed_webhook_whose_body_repeats_a_key_is_refused_and_not_stored(client, shopify):
    # a parser keeps one of two values of a repeated key while the raw body keeps both: the card in the
    # other one would be stored unseen
    body = b'{"id": 1, "note": "4111 1111 1111 1111", "note": "gracias"}'
    response = client.post(reverse("inbound-webhook", args=[shopify.pk]), data=body, content_type="application/json",
                           **_signed(body))
    assert response.status_code == 400 and "repeats a key" in response.json()["message"]
    assert "4111" not in response.content.decode() and not InboundWebhook.objects.exists()
