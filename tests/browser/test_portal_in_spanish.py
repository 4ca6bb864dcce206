"""One page in Spanish: a merchant admin of a Puerto Rico merchant reads the dashboard in Spanish
without choosing anything, then switches to English from the top bar (htmx-boosted form)."""

import pytest
from django.contrib.auth import get_user_model

from integrations.services import enabling
from merchants.models import Role, UserPreference
from merchants.services import membership_grant
from seeds import DEMO_PASSWORD
from tests.browser.conftest import sign_in
from tests.browser.test_merchant_enable_path import SCREENSHOTS
from tests.factories import definition

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def spanish_reader(committed):
    """A San Juan admin who has not chosen a language (the personas read English)."""
    user = get_user_model().objects.create_user("sanjuan-lectora", "lectora@farmaciasanjuan.local", DEMO_PASSWORD)
    membership_grant(user=user, role=Role.MERCHANT_ADMIN, merchant=committed.san_juan)
    yield user
    user.delete()


def test_a_merchant_admin_reads_the_dashboard_in_spanish_and_switches_to_english(
    committed, spanish_reader, portal_server, page
):
    # given San Juan speaks Spanish, with an integration being set up
    assert committed.san_juan.language == "es"
    enabling.merchant_integration_enable(merchant=committed.san_juan, definition=definition("accounting.quickbooks_online"),
                                          by=spanish_reader)

    # when its admin signs in (the browser asks for English)
    sign_in(page, portal_server, spanish_reader.username)

    # then the dashboard is in Spanish
    page.wait_for_selector("text=Añadir una integración")
    assert page.get_attribute("html", "lang") == "es"
    assert "Farmacia San Juan — integraciones" in page.inner_text("h1")
    assert "Catálogo" in page.inner_text("nav") and "Salir" in page.inner_text("nav")
    assert "En configuración" in page.inner_text("table.grid") and "Termine la instalación" in page.inner_text("table.grid")
    page.screenshot(path=SCREENSHOTS / "merchant-dashboard-es.png", full_page=True)

    # and English chosen in the top bar switches the page and stays
    page.select_option("#language-choice", "en")
    page.click("#language-switcher button")
    page.wait_for_selector("text=Add an integration")
    assert page.get_attribute("html", "lang") == "en"
    assert UserPreference.objects.get(user=spanish_reader).language == "en"
    page.reload()
    page.wait_for_selector("text=Add an integration")
    assert page.js_errors == []
