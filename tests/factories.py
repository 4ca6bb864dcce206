"""Small helpers that drive the services the way the portal does."""

from __future__ import annotations

from integrations.models import IntegrationDefinition, MerchantIntegration
from integrations.services import configuring, enabling, transitions

ACUMATICA_CONFIG = {
    "instance_url": "https://example.acumatica.com",
    "company": "FSJ",
    "endpoint_version": "23.200.001",
    "poll_every_minutes": 15,
}


def definition(code: str) -> IntegrationDefinition:
    return IntegrationDefinition.objects.get(code=code)


def active_acumatica(merchant, *, by, token: str = "tok-acumatica") -> MerchantIntegration:
    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition("erp.acumatica"), by=by)
    integration = configuring.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=by)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"username": token, "password": "pw-" + token}, by=by
    )
    assert configuring.merchant_integration_test_connection(integration=integration, by=by) is None
    return transitions.merchant_integration_activate(integration=integration, by=by)


def run_concurrently(operation, times: int = 2) -> list:
    """Run `operation` in `times` threads released at the same instant, each on its own database
    connection; returns what each returned (or the exception it raised)."""
    import threading

    from django.db import connections

    results: list = []
    barrier = threading.Barrier(times)

    def run():
        barrier.wait()
        try:
            results.append(operation())
        except Exception as error:  # noqa: BLE001  (the caller inspects what each thread got)
            results.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def sell(merchant, *, at, lines=(("standard", "10.00"),), state="1.05", municipal="0.10", tenders=None, location=None):
    """Record a sale through the sales service: `lines` as (tax category, amount); paid in cash for
    its total unless `tenders` are given."""
    import uuid
    from decimal import Decimal

    from devices.sales import sale_record

    subtotal = sum(Decimal(amount) for _, amount in lines)
    total = subtotal + Decimal(state) + Decimal(municipal)
    return sale_record(merchant=merchant, location=location or merchant.locations.first(), sale={
        "client_uuid": str(uuid.uuid4()), "completed_at": at.isoformat(), "subtotal": str(subtotal),
        "tax_state": state, "tax_municipal": municipal, "total": str(total),
        "lines": [{"sku": f"S{index}", "description": "Item", "quantity": "1", "unit_price": amount,
                   "line_total": amount, "tax_category": category} for index, (category, amount) in enumerate(lines)],
        "tenders": tenders or [{"kind": "cash", "amount": str(total)}],
    })


# The QuickBooks fake's chart: 36 Cash on hand, 37 Card clearing, 38 Check clearing, 79 Sales, 80/81 IVU payable.
QUICKBOOKS_ACCOUNTS = {("PaymentMethod", "CASH"): "36", ("PaymentMethod", "CREDIT"): "37",
                       ("PaymentMethod", "CHECK"): "38", ("Revenue", "SALES"): "79",
                       ("TaxCategory", "IVU_STATE"): "80", ("TaxCategory", "IVU_MUNICIPAL"): "81"}
OAUTH_REDIRECT_URI = "http://testserver/portal/oauth/callback/"


def oauth_consent(url: str) -> dict:
    """What the admin's browser does on a vendor fake's consent page: returns the callback's query."""
    from urllib.parse import parse_qs, urlsplit

    import requests

    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return {key: values[0] for key, values in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


# The Xero fake's chart: 090 Cash on hand, 091 Card clearing, 092 Check clearing, 200 Sales, 820/821 IVU payable.
XERO_ACCOUNTS = {("PaymentMethod", "CASH"): "090", ("PaymentMethod", "CREDIT"): "091",
                 ("PaymentMethod", "CHECK"): "092", ("Revenue", "SALES"): "200",
                 ("TaxCategory", "IVU_STATE"): "820", ("TaxCategory", "IVU_MUNICIPAL"): "821"}


def accounting_enabled(merchant, code: str, mappings: dict):
    """An accounting integration enabled with exactly these mappings (no template's)."""
    from integrations.models import IntegrationMapping
    from integrations.services import enabling

    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition(code), by=None)
    IntegrationMapping.objects.filter(merchant_integration=integration).delete()
    IntegrationMapping.objects.bulk_create([
        IntegrationMapping(merchant_integration=integration, map_group=group, source_code=code, target_code=target)
        for (group, code), target in mappings.items()
    ])
    return integration


def quickbooks_enabled(merchant, mappings=QUICKBOOKS_ACCOUNTS):
    return accounting_enabled(merchant, "accounting.quickbooks_online", mappings)


def oauth_reconnect(integration, *, by=None):
    """Connect (or reconnect) through the services the portal's connect and callback views call."""
    from integrations.services import oauth

    session: dict = {}
    query = oauth_consent(oauth.oauth_start(integration=integration, session=session, redirect_uri=OAUTH_REDIRECT_URI))
    assert oauth.integration_for_state(state=query["state"], session=session) == integration.pk
    return oauth.oauth_complete(integration=integration, code=query["code"], company_id=query.get("realmId", ""),
                                redirect_uri=OAUTH_REDIRECT_URI, by=by)


def accounting_connected(merchant, code: str, mappings: dict):
    """Enabled, connected to its vendor's fake through the OAuth services, and active."""
    from integrations.services import transitions

    integration, failure = oauth_reconnect(accounting_enabled(merchant, code, mappings))
    assert failure is None, failure
    return transitions.merchant_integration_activate(integration=integration, by=None)


def quickbooks_connected(merchant, mappings=QUICKBOOKS_ACCOUNTS):
    return accounting_connected(merchant, "accounting.quickbooks_online", mappings)


def xero_connected(merchant, mappings=XERO_ACCOUNTS):
    return accounting_connected(merchant, "accounting.xero", mappings)


def open_problem_causes(integration) -> str:
    """What the Issues inbox lists as an integration's open problems: each cause, then its fix."""
    from integrations import inbox

    rows = inbox.open_problems(integration.merchant, integration=integration)
    return " ".join(f"{row.cause} {row.fix.label if row.fix else row.waiting}" for row in rows)


def wait_for(condition, seconds: float = 30) -> bool:
    """Whether `condition()` came true within `seconds` (another process's work: a worker, a server)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False
