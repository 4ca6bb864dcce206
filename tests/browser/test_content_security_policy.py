"""Each role's main pages in Debian chromium under the Content-Security-Policy: nothing refused (no
`securitypolicyviolation` event, no console error), and what moved out of the pages still works."""

import pytest

from integrations.models import MerchantIntegration
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.security, pytest.mark.slow]

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolation(`${event.violatedDirective} ${event.blockedURI} at ${event.sourceFile}:${event.lineNumber}`);
});
"""

# For each alternative select: 1 when its chosen alternative's fields show (if it has any) and no other's.
BRANCHES_SHOWN = """() => [...document.querySelectorAll("select[data-branch-select]")].map((select) =>
  [...select.closest("[data-choice]").querySelectorAll(":scope > fieldset[data-branch]")]
    .every((branch) => branch.hidden === (branch.dataset.branch !== select.value)) ? 1 : 0)"""


@pytest.fixture
def watched(browser):
    """A page that collects every CSP violation of every document it loads, with its console errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    violations: list[str] = []
    context.expose_function("cspViolation", lambda violation: violations.append(violation))
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.violations = violations
    yield page
    context.close()


def _visit(page, url: str, expect: str) -> None:
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    assert response.status == 200 and expect in page.content(), (url, response.status)
    assert response.headers["content-security-policy"].startswith("default-src 'self'")


def _demo_integrations(personas):
    from seeds.demo import ensure_demo_integrations

    ensure_demo_integrations(personas)
    return MerchantIntegration.objects.get(merchant=personas.san_juan, definition__code="accounting.quickbooks_online")


def test_a_merchant_admins_pages_run_under_the_policy_with_nothing_refused(committed, portal_server, watched):
    quickbooks = _demo_integrations(committed)
    merchant = f"{portal_server}/portal/m/{committed.san_juan.slug}"
    sign_in(watched, portal_server, "sanjuan-admin")

    for url, expect in [
        (f"{portal_server}/", "Farmacia San Juan — integrations"),
        (f"{merchant}/catalog/", "QuickBooks Online"),
        (f"{merchant}/integrations/{quickbooks.pk}/", "QuickBooks Online"),
        (f"{merchant}/integrations/{quickbooks.pk}/mappings/", "QuickBooks Online"),
        (f"{merchant}/money/", "Money"),
        (f"{merchant}/webhooks/", "Webhooks"),
        (f"{merchant}/terminals/", "Terminals"),
        (f"{merchant}/pharmacy/", "Pharmacy"),
        (f"{merchant}/settings/", "POS settings"),
    ]:
        _visit(watched, url, expect)

    # The settings page's script, now static/js/portal.js: only the chosen alternative's fields are
    # enabled, on a page loaded whole and on one htmx swapped in (the nav is boosted).
    shown = watched.evaluate(BRANCHES_SHOWN)
    assert shown and set(shown) == {1}
    watched.click("nav >> text=Catalog")
    watched.wait_for_url("**/catalog/")
    watched.wait_for_selector("select[data-branch-select]", state="detached")
    watched.click("nav >> text=POS settings")
    watched.wait_for_url("**/settings/")
    watched.wait_for_selector("select[data-branch-select]", state="attached")
    watched.wait_for_load_state("networkidle")
    shown = watched.evaluate(BRANCHES_SHOWN)
    assert shown and set(shown) == {1}

    assert watched.violations == [] and watched.errors == []


def test_a_partner_admins_pages_run_under_the_policy_with_nothing_refused(committed, portal_server, watched):
    _demo_integrations(committed)
    sign_in(watched, portal_server, "pharmatech-admin")

    for url, expect in [
        (f"{portal_server}/", "Farmacia Ponce"),
        (f"{portal_server}/portal/p/{committed.partner.slug}/", "What is failing"),
        (f"{portal_server}/portal/m/{committed.pharmacies[2].slug}/money/", "Money"),
    ]:
        _visit(watched, url, expect)

    assert watched.violations == [] and watched.errors == []


def test_a_system_admins_portal_and_django_admin_run_under_the_policy_with_nothing_refused(committed, portal_server,
                                                                                         watched):
    quickbooks = _demo_integrations(committed)
    sign_in(watched, portal_server, "sysadmin")

    for url, expect in [
        (f"{portal_server}/", "Farmacia San Juan"),
        (f"{portal_server}/admin/", "Integration health"),
        (f"{portal_server}/admin/health/", "Failed runs per integration"),
        (f"{portal_server}/admin/integrations/merchantintegration/", "Select merchant integration"),
        (f"{portal_server}/admin/integrations/merchantintegration/{quickbooks.pk}/change/", "QuickBooks Online"),
        (f"{portal_server}/admin/merchants/merchant/{committed.san_juan.pk}/change/", "Farmacia San Juan"),
        (f"{portal_server}/admin/events/eventdelivery/", "Select event delivery"),
    ]:
        _visit(watched, url, expect)

    # The admin's own scripts run: its changelist filter and its theme toggle.
    _visit(watched, f"{portal_server}/admin/integrations/merchantintegration/", "Select merchant integration")
    watched.click("button.theme-toggle")
    assert watched.evaluate("document.documentElement.dataset.theme") in {"light", "dark"}

    assert watched.violations == [] and watched.errors == []
