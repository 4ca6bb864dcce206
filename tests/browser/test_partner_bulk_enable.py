"""A partner admin in Debian chromium: a template, a dry run over 50 stores, the rollout with its
live progress bar (htmx polling a real worker's job), and every store's outcome afterwards."""

import os
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from merchants.models import Merchant
from partners.models import BulkJob, PartnerIntegrationTemplate
from tests.browser.conftest import sign_in
from tests.partners.conftest import add_stores

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(os.environ.get("QIIUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="qiiub-screenshots-"))


@pytest.fixture
def fifty_stores(committed, celery_worker_process):
    merchants = add_stores(committed.partner, 50, prefix="chain")
    yield merchants
    BulkJob.objects.filter(partner=committed.partner).delete()
    PartnerIntegrationTemplate.objects.filter(partner=committed.partner, name="Desktop for the chain").delete()
    Merchant.objects.filter(pk__in=[m.pk for m in merchants]).delete()


def test_partner_admin_dry_runs_then_enables_a_template_for_50_stores(committed, portal_server, page, fifty_stores):
    sign_in(page, portal_server, "pharmatech-admin")

    # a template for QuickBooks Desktop, from the partner's pages
    page.goto(f"{portal_server}/portal/p/{committed.partner.slug}/templates/")
    page.select_option("#t-definition", "accounting.quickbooks_desktop")
    page.click("text=Continue")
    page.fill("#t-name", "Desktop for the chain")
    page.fill("input[name='map:PaymentMethod:CASH']", "Cash on hand")
    page.screenshot(path=SCREENSHOTS / "partner-template-edit.png", full_page=True)
    page.click("text=Save template")
    page.wait_for_selector("text=Template 'Desktop for the chain' saved.")
    page.screenshot(path=SCREENSHOTS / "partner-templates.png", full_page=True)

    # a dry run over every store
    page.click("tr:has-text('Desktop for the chain') >> text=Enable for stores…")
    page.wait_for_selector("#bulk-form")
    page.click("button:has-text('Dry run')")
    page.wait_for_selector("#follow-up", timeout=30_000)  # shown once the worker is done
    stores = committed.partner.merchants.count()
    assert f"Would be enabled: {stores}" in page.inner_text("#outcomes")
    page.screenshot(path=SCREENSHOTS / "partner-bulk-dry-run.png", full_page=True)

    # the rollout: the progress bar fills while the worker goes through the waves
    dry_run_url = page.url
    page.click("#follow-up")
    page.wait_for_url(lambda url: url != dry_run_url)
    expect(page.locator("#bulk-status")).to_have_text("Done", timeout=30_000)  # no string to eval: the CSP refuses it
    assert f"Enabled: {stores}" in page.inner_text("#outcomes")
    assert page.inner_text("#bulk-status") == "Done"
    assert f"{stores} of {stores} stores done, 0 failed" in page.inner_text("#bulk-progress")
    assert page.get_attribute("#bulk-progress progress", "value") == "100"
    assert "Chain 049" in page.content() or "next →" in page.content()
    page.screenshot(path=SCREENSHOTS / "partner-bulk-job-done.png", full_page=True)
    template = PartnerIntegrationTemplate.objects.get(name="Desktop for the chain")
    assert template.definition.installations.filter(merchant__in=fifty_stores).count() == 50
    assert page.js_errors == []
