"""The mapping picker in Debian chromium: each row's target picked from the QuickBooks company's
chart of accounts ("number — name", the accounts that suit the row first), saved inline, a
refresh that fails said plainly with the mappings still there, and the same page in Spanish."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from integrations.models import IntegrationMapping
from merchants.models import Role
from merchants.services import membership_grant
from seeds import DEMO_PASSWORD
from tests.browser.conftest import sign_in
from tests.browser.test_merchant_fixes_a_mapping import SCREENSHOTS
from tests.factories import QUICKBOOKS_ACCOUNTS, quickbooks_connected, sell

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SAN_JUAN = ZoneInfo("America/Puerto_Rico")


@pytest.fixture
def spanish_admin(committed):
    """An admin of the merchant who has not chosen a language: a Puerto Rico merchant reads Spanish."""
    merchant = committed.pharmacies[3]
    user = get_user_model().objects.create_user("mapeos-lectora", "mapeos@farmacia.local", DEMO_PASSWORD)
    membership_grant(user=user, role=Role.MERCHANT_ADMIN, merchant=merchant)
    yield user
    user.delete()


def test_the_merchant_picks_each_target_from_the_chart_in_english_and_spanish(
        committed, spanish_admin, portal_server, page, browser, quickbooks_fake):
    # given a QuickBooks Online integration without a mapping for checks, and a check sale two days ago
    merchant = committed.pharmacies[3]
    qbo = quickbooks_connected(merchant, {key: value for key, value in QUICKBOOKS_ACCOUNTS.items()
                                          if key != ("PaymentMethod", "CHECK")})
    two_days_ago = timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=2)
    sell(merchant, at=datetime.combine(two_days_ago, time(10), tzinfo=SAN_JUAN),
         tenders=[{"kind": "check", "amount": "11.15", "reference": "3310"}])
    mappings_url = f"{portal_server}/portal/m/{merchant.slug}/integrations/{qbo.pk}/mappings/"

    # when the partner admin opens the mappings: every row is a list of the company's accounts
    sign_in(page, portal_server, "pharmatech-admin")
    page.goto(mappings_url)
    check = "#target-PaymentMethod-CHECK"
    page.wait_for_selector(check)
    assert "used, not mapped" in page.inner_text("#mapping-PaymentMethod-CHECK")
    suited = page.eval_on_selector_all(f"{check} optgroup:first-of-type option", "els => els.map(e => e.textContent)")
    others = page.eval_on_selector_all(f"{check} optgroup:last-of-type option", "els => els.map(e => e.textContent)")
    assert "1030 — Check clearing" in suited and "1010 — Cash on hand" in suited and "4000 — Sales" not in suited
    assert "4000 — Sales" in others and not any("Old register drawer" in text for text in suited + others)
    assert page.input_value("#target-PaymentMethod-CASH") == "36"

    # and picks Check clearing for checks: saved inline
    page.select_option(check, "38")
    page.click("#mapping-PaymentMethod-CHECK button")
    page.wait_for_selector("#mapping-PaymentMethod-CHECK >> text=Saved.")
    assert IntegrationMapping.objects.get(merchant_integration=qbo, source_code="CHECK").target_code == "38"
    page.screenshot(path=SCREENSHOTS / "merchant-mapping-picker.png", full_page=True)

    # then a refresh while QuickBooks is down says so, and the mappings stay in place
    quickbooks_fake.control(fail={"status": 503, "count": 5})
    page.click("#refresh-accounts button")
    page.wait_for_selector(".msg.error")
    assert page.input_value(check) == "38" and page.input_value("#target-PaymentMethod-CASH") == "36"
    quickbooks_fake.control(fail=None)
    page.click("#refresh-accounts button")
    page.wait_for_selector("text=accounts read from QuickBooks Online")
    assert page.js_errors == []

    # and the merchant's own admin reads the same picker in Spanish
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    spanish = context.new_page()
    try:
        sign_in(spanish, portal_server, spanish_admin.username)
        spanish.goto(mappings_url)
        spanish.wait_for_selector(check)
        assert spanish.get_attribute("html", "lang") == "es" and "Mapeos" in spanish.inner_text("h1")
        assert spanish.input_value(check) == "38"
        spanish.screenshot(path=SCREENSHOTS / "merchant-mapping-picker-es.png", full_page=True)
    finally:
        context.close()
