"""On a phone (390 × 844) the main page of each role never scrolls sideways: wide tables scroll
inside their own box instead."""

import pytest

from integrations.services import configuring, enabling
from tests.browser.conftest import sign_in
from tests.factories import ACUMATICA_CONFIG, definition

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE)
    yield context.new_page()
    context.close()


@pytest.fixture
def san_juan_erp(committed):
    """An installation with every section of the integration page: configuration, credentials, history."""
    integration = enabling.merchant_integration_enable(merchant=committed.san_juan, definition=definition("erp.acumatica"),
                                                       by=None)
    return configuring.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=None)


def _page_width(phone) -> int:
    return phone.evaluate("document.documentElement.scrollWidth")


@pytest.mark.parametrize(("username", "page_of"), [
    ("sanjuan-admin", lambda personas, erp: f"/portal/m/{personas.san_juan.slug}/"),
    ("sanjuan-admin", lambda personas, erp: f"/portal/m/{personas.san_juan.slug}/integrations/{erp.pk}/"),
    ("sanjuan-admin", lambda personas, erp: f"/portal/m/{personas.san_juan.slug}/settings/"),
    ("pharmatech-admin", lambda personas, erp: f"/portal/p/{personas.partner.slug}/"),
], ids=["merchant-dashboard", "integration-page", "pos-settings", "partner-dashboard"])
def test_the_main_pages_fit_a_phone_without_scrolling_sideways(portal_server, phone, committed, san_juan_erp,
                                                                username, page_of):
    sign_in(phone, portal_server, username)
    phone.goto(f"{portal_server}{page_of(committed, san_juan_erp)}")
    phone.wait_for_load_state("networkidle")

    assert phone.locator("h1").count() >= 1
    assert _page_width(phone) <= PHONE["width"], phone.url
