"""A merchant admin walks the enable path in Debian chromium, against a real portal process."""

import os
import tempfile
from pathlib import Path

import pytest

from integrations.models import MerchantIntegration, Status
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# `make screenshots` sets this to docs/screenshots; an ordinary run leaves the work tree alone.
SCREENSHOTS = Path(os.environ.get("QIIUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="qiiub-screenshots-"))


def test_merchant_admin_enables_configures_tests_and_activates_an_integration(committed, portal_server, page):
    # given the Colmado Rivera admin signed in
    sign_in(page, portal_server, "colmado-admin")
    assert "Colmado Rivera — integrations" in page.content()

    # when they open the catalog and enable Acumatica
    page.click("text=Add an integration")
    page.wait_for_selector("article[data-code='erp.acumatica']")
    page.screenshot(path=SCREENSHOTS / "merchant-catalog.png", full_page=True)
    page.click("article[data-code='erp.acumatica'] button:has-text('Enable')")
    page.wait_for_selector("text=Acumatica enabled")
    assert page.inner_text("#status-badge").strip().startswith("Configuring")

    # and save a configuration with a mistake: the error shows inline, next to the field
    page.fill("#configuration input[name=instance_url]", "http://not-https.example.com")
    page.fill("#configuration input[name=company]", "CR")
    page.fill("#configuration input[name=poll_every_minutes]", "2")
    page.click("#configuration button:has-text('Save configuration')")
    page.wait_for_selector("#configuration .field-error")
    errors = page.inner_text("#configuration")
    assert "Not in the expected format. Your Acumatica address, starting with https://" in errors
    assert "less than the minimum" in errors
    page.screenshot(path=SCREENSHOTS / "merchant-config-errors.png", full_page=True)

    # then fixes it
    page.fill("#configuration input[name=instance_url]", "https://colmado.acumatica.com")
    page.fill("#configuration input[name=poll_every_minutes]", "30")
    page.click("#configuration button:has-text('Save configuration')")
    page.wait_for_selector("text=Configuration saved.")

    # enters credentials (never shown again), tests the connection, and activates
    page.fill("#credentials input[name=username]", "browser-user")
    page.fill("#credentials input[name=password]", "browser-pass-91x")
    page.click("#credentials button:has-text('Save credentials')")
    page.wait_for_selector("text=Credentials saved")
    assert "browser-pass-91x" not in page.content()
    page.click("button:has-text('Test connection')")
    page.wait_for_selector("text=Connection test passed.")
    page.click("button:has-text('Activate')")
    page.wait_for_selector("text=Integration active")
    assert page.inner_text("#status-badge").strip() == "Active"
    page.screenshot(path=SCREENSHOTS / "merchant-integration-active.png", full_page=True)

    integration = MerchantIntegration.objects.get(merchant=committed.colmado, definition__code="erp.acumatica")
    assert integration.status == Status.ACTIVE and integration.configuration["poll_every_minutes"] == 30

    # pause and resume from the same page
    page.click("button:has-text('Pause')")
    page.wait_for_selector("text=Integration paused")
    assert page.inner_text("#status-badge").strip().startswith("Paused")
    page.click("button:has-text('Resume')")
    page.wait_for_selector("text=Integration resumed.")

    # the dashboard lists it with its badge
    page.click("nav >> text=Colmado Rivera")
    page.wait_for_url(f"{portal_server}/portal/m/colmado-rivera/")
    assert "Acumatica" in page.inner_text("table.grid")
    page.screenshot(path=SCREENSHOTS / "merchant-dashboard.png", full_page=True)
    assert page.js_errors == []


def test_merchant_admin_connects_quickbooks_online_through_intuits_consent(committed, portal_server, page,
                                                                           quickbooks_fake):
    # given the Colmado Rivera admin signed in, with QuickBooks Online enabled
    sign_in(page, portal_server, "colmado-admin")
    page.click("text=Add an integration")
    page.click("article[data-code='accounting.quickbooks_online'] button:has-text('Enable')")
    page.wait_for_selector("text=QuickBooks Online enabled")
    assert page.locator("#credentials input:not([type=hidden])").count() == 0  # nothing to type: the vendor signs in

    # when they connect: the browser goes to Intuit's consent page and comes back to the portal
    page.click("#oauth-connect")
    page.wait_for_selector("text=QuickBooks Online connected and tested")

    # then the company is connected and the integration can be activated; no token on the page
    integration = MerchantIntegration.objects.get(merchant=committed.colmado,
                                                  definition__code="accounting.quickbooks_online")
    assert integration.last_test_ok and "Reconnect to QuickBooks Online" in page.content()
    page.click("button:has-text('Activate')")
    page.wait_for_selector("text=Integration active")
    page.screenshot(path=SCREENSHOTS / "merchant-quickbooks-connected.png", full_page=True)
    assert MerchantIntegration.objects.get(pk=integration.pk).status == Status.ACTIVE
    assert page.js_errors == []


def test_each_roles_main_pages(committed, portal_server, browser):
    # Screenshots for docs/screenshots (with the demo's integrations), and a check that each
    # role's landing page renders.
    from seeds.demo import ensure_demo_integrations

    ensure_demo_integrations(committed)
    san_juan_qbo = MerchantIntegration.objects.get(merchant=committed.san_juan, definition__code="accounting.quickbooks_online")
    san_juan_suri = MerchantIntegration.objects.get(merchant=committed.san_juan, definition__code="tax.suri_ivu")
    for username, path, expect, name in [
        ("sanjuan-admin", f"/portal/m/farmacia-san-juan/integrations/{san_juan_suri.pk}/", "Monthly IVU returns",
         "merchant-ivu-returns"),
        ("sanjuan-admin", f"/portal/m/farmacia-san-juan/integrations/{san_juan_qbo.pk}/", "Standard QB for Pharmacies",
         "merchant-integration-history"),
        ("pharmatech-admin", "/", "Farmacia Ponce", "partner-home"),
        ("pharmatech-admin", "/portal/p/pharmatech/", "What is failing", "partner-store-health"),
        ("sanjuan-admin", "/", "Farmacia San Juan — integrations", "merchant-san-juan-dashboard"),
        ("sysadmin", "/admin/integrations/merchantintegration/", "Select merchant integration", "sysadmin-merchant-integrations"),
        ("sysadmin", "/admin/health/", "Failed runs per integration", "sysadmin-integration-health"),
        ("sysadmin", "/admin/integrations/integrationdefinition/", "QuickBooks Online", "sysadmin-registry"),
    ]:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        sign_in(page, portal_server, username)
        response = page.goto(f"{portal_server}{path}")
        assert response.status == 200 and expect in page.content(), (path, response.status)  # not a debug page
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
        context.close()
