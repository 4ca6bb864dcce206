"""A merchant admin adds a webhook endpoint in Debian chromium, sees its secret exactly once (a
reload after the redirect shows the page, not the secret nor a 405), sends a test event, reads a
delivery's request and answer, and reads the page in Spanish."""

import pytest

from events import dispatch, publish, relay
from merchants.services import user_language_set
from simulators.webhook_receiver import WebhookReceiver
from tests.browser.conftest import sign_in
from tests.browser.test_merchant_enable_path import SCREENSHOTS
from webhooks.models import WebhookEndpoint

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def receiver(settings):
    receiver = WebhookReceiver().start()
    settings.WEBHOOK_CA_BUNDLE = receiver.cert_path  # this process trusts it; the portal's does not
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    yield receiver
    receiver.stop()


def _deliver_sale(merchant, endpoint):
    event = publish.publish(event_type="sale.completed", payload={"sale_id": "S-12", "total": "18.25"}, merchant=merchant)
    relay.fan_out(event_ids=[event.pk])
    delivery = event.deliveries.get(webhook_endpoint=endpoint)
    dispatch.deliver(delivery_id=delivery.pk)
    return delivery


def test_merchant_admin_adds_a_webhook_endpoint_and_reads_its_deliveries(committed, portal_server, page, receiver):
    sign_in(page, portal_server, "colmado-admin")
    page.click("nav >> text=Webhooks")
    page.wait_for_selector("#new-endpoint")

    # every field's error at once, and a refused URL's reason next to it
    page.click("#new-endpoint button:has-text('Add endpoint')")
    page.wait_for_selector("#new-endpoint .field-error")
    errors = page.inner_text("#new-endpoint")
    assert "Enter your endpoint's URL." in errors and "Choose at least one." in errors
    page.fill("#wh-url", "http://insecure.example.com/hook")
    page.check("input[value='sale.completed']")
    page.click("#new-endpoint button:has-text('Add endpoint')")
    page.wait_for_selector("text=must use https://")

    # a good one: redirected to its page, which shows the secret once
    page.fill("#wh-url", receiver.url)
    page.fill("#wh-description", "Back office")
    page.click("#new-endpoint button:has-text('Add endpoint')")
    page.wait_for_selector("#new-secret")
    secret = page.inner_text("#new-secret").strip()
    assert secret.startswith("whsec_")
    page.screenshot(path=SCREENSHOTS / "merchant-webhook-secret-once.png", full_page=True)
    page.reload()
    page.wait_for_selector("text=Delivery log")
    assert secret not in page.content()

    # deliveries: one delivered, one the receiver refused (retried later)
    endpoint = WebhookEndpoint.objects.get(merchant=committed.colmado)
    _deliver_sale(committed.colmado, endpoint)
    receiver.status = 500
    failed = _deliver_sale(committed.colmado, endpoint)

    # a test event from the portal (whose process does not trust the receiver's certificate: a TLS error)
    page.click("button:has-text('Send test event')")
    page.wait_for_selector(".msg.error >> text=Test event not delivered")
    assert "The secure (TLS) connection to the endpoint failed" in page.inner_text(".messages")
    page.reload()  # after the redirect: the page again, nothing re-sent, no 405
    page.wait_for_selector("#delivery-log")
    log = page.inner_text("#delivery-log")
    assert "webhook.test" in log and "The endpoint answered 500." in log and "Next retry:" in log
    page.screenshot(path=SCREENSHOTS / "merchant-webhook-detail.png", full_page=True)

    # one delivery: the request we sent and the endpoint's answer
    page.click(f"a[href$='/deliveries/{failed.pk}/']")
    page.wait_for_selector("#request-sent")
    assert "webhook-signature" in page.inner_text("#attempt-1") and "receiver says no" in page.inner_text("#attempt-1")
    assert secret not in page.content()
    page.screenshot(path=SCREENSHOTS / "merchant-webhook-delivery.png", full_page=True)

    # the same endpoint page in Spanish
    try:
        page.select_option("#language-choice", "es")
        page.click("#language-switcher button")
        page.wait_for_selector("html[lang=es]")
        page.goto(f"{portal_server}/portal/m/{committed.colmado.slug}/webhooks/{endpoint.pk}/")
        page.wait_for_selector("#delivery-log")
        page.screenshot(path=SCREENSHOTS / "merchant-webhook-detail-es.png", full_page=True)
    finally:
        user_language_set(user=committed.retail_admin, language="en")
    assert page.js_errors == []
