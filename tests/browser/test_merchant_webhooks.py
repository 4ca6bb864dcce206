"""A merchant admin adds a webhook endpoint in Debian chromium and sees its secret exactly once."""

import pytest

from tests.browser.conftest import sign_in
from tests.browser.test_merchant_enable_path import SCREENSHOTS
from webhooks.models import WebhookEndpoint

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_merchant_admin_adds_a_webhook_endpoint_and_copies_its_secret(committed, portal_server, page):
    sign_in(page, portal_server, "colmado-admin")
    page.click("nav >> text=Webhooks")
    page.wait_for_selector("#new-endpoint")

    # a refused URL shows its reason next to the field
    page.fill("#wh-url", "http://insecure.example.com/hook")
    page.check("input[value='sale.completed']")
    page.click("#new-endpoint button:has-text('Add endpoint')")
    page.wait_for_selector("#new-endpoint .field-error")
    assert "must use https://" in page.inner_text("#new-endpoint")

    # a good one: the secret is on this page only
    page.fill("#wh-url", "https://127.0.0.1:9/hooks/qiiub")
    page.fill("#wh-description", "Back office")
    page.click("#new-endpoint button:has-text('Add endpoint')")
    page.wait_for_selector("#new-secret")
    secret = page.inner_text("#new-secret").strip()
    assert secret.startswith("whsec_")
    page.screenshot(path=SCREENSHOTS / "merchant-webhook-secret-once.png", full_page=True)

    endpoint = WebhookEndpoint.objects.get(merchant=committed.colmado)
    page.click(f"text={endpoint.url}")
    page.wait_for_selector("text=Delivery log")
    assert secret not in page.content()
    page.screenshot(path=SCREENSHOTS / "merchant-webhook-detail.png", full_page=True)
    assert page.js_errors == []
