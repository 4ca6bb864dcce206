"""The Issues inbox in Debian chromium: a merchant admin finds an auto-paused integration's problem
from the top bar, fixes it with the button the row offers, resumes, and sees it resolved; the
partner admin reads the same outage grouped across stores. Screenshots in both languages."""

import pytest

from integrations.models import MerchantIntegration, Status
from integrations.services.sync import merchant_integration_sync
from tests.browser.conftest import sign_in
from tests.browser.test_merchant_enable_path import SCREENSHOTS
from tests.factories import active_acumatica

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _auto_paused(merchant, acumatica_fake, token: str) -> MerchantIntegration:
    integration = active_acumatica(merchant, by=None, token=token)
    acumatica_fake.control(fail={"status": 503, "count": 3})
    for _ in range(3):
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))
    integration.refresh_from_db()
    assert integration.status == Status.PAUSED
    return integration


def test_a_merchant_fixes_a_problem_from_the_inbox_and_sees_it_resolved(committed, acumatica_fake, portal_server,
                                                                        page):
    # given Colmado Rivera's Acumatica auto-paused by a vendor outage that has since ended
    integration = _auto_paused(committed.colmado, acumatica_fake, "tok-browser-inbox")

    # when its admin follows the top bar's Issues link
    sign_in(page, portal_server, "colmado-admin")
    page.goto(f"{portal_server}/portal/m/{committed.colmado.slug}/")
    assert page.inner_text("#issues-link").strip().endswith("1")
    page.click("#issues-link")
    page.wait_for_selector("#open-problems")
    row = page.inner_text("tr.problem")
    assert "Acumatica answered 503." in row and "3 runs" in row and "Unreachable" in row
    page.screenshot(path=SCREENSHOTS / "merchant-issues.png", full_page=True)

    # then the row's fix tests the connection, and the page it lands on offers Resume
    page.click("tr.problem button:has-text('Test the connection')")
    page.wait_for_selector("text=Connection test passed.")
    assert "The connection test passed: resume it when ready." in page.inner_text("#standing")
    page.click("button:has-text('Resume')")
    page.wait_for_selector("text=Integration resumed.")
    integration.refresh_from_db()
    assert integration.status == Status.ACTIVE

    # and the inbox lists the problem as resolved, in English and in Spanish
    page.click("#issues-link")
    page.wait_for_selector("text=Nothing needs your attention")
    assert "The connection test passed" in page.inner_text("#problem-history")
    page.select_option("#language-choice", "es")
    page.click("#language-switcher button")
    page.wait_for_selector("text=Resueltos recientemente")
    assert "Acumatica respondió 503." in page.inner_text("#problem-history")
    page.screenshot(path=SCREENSHOTS / "merchant-issues-es.png", full_page=True)
    page.select_option("#language-choice", "en")  # as the personas read the portal in every other test
    page.click("#language-switcher button")
    page.wait_for_selector("text=Resolved lately")
    assert page.js_errors == []


def test_a_partner_reads_one_outage_across_stores_as_one_row(committed, acumatica_fake, portal_server, page):
    for index, merchant in enumerate(committed.pharmacies[:3]):
        _auto_paused(merchant, acumatica_fake, f"tok-browser-partner-{index}")

    sign_in(page, portal_server, "pharmatech-admin")
    page.goto(f"{portal_server}/portal/p/{committed.partner.slug}/")
    incidents = page.inner_text("#incidents")
    assert "Acumatica answered 503." in incidents and "3" in incidents
    page.click("a:has-text('all issues and coverage')")
    page.wait_for_selector("#partner-problems")
    assert page.locator("tr.problem-group").count() == 1
    page.click("tr.problem-group summary")
    assert committed.pharmacies[2].name in page.inner_text("tr.problem-group")
    assert "Stores with no tax filing" in page.inner_text("#coverage")
    page.screenshot(path=SCREENSHOTS / "partner-issues.png", full_page=True)
    assert page.js_errors == []
