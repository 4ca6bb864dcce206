"""Card numbers in what the connectors hand back: the OAuth callback's redirect (the company id
stored with the grant, the denial reason shown to the admin) and SURI's confirmation number for an
IVU return. Neither stored nor shown. The machinery is in card_inbound.py.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.urls import reverse

from integrations.models import MerchantIntegration
from integrations.services import configuring, enabling
from qiiub.models import VaultSecret
from taxes.filings import filing_prepare
from taxes.models import IvuFiling
from tests.factories import definition, oauth_consent, quickbooks_enabled
from tests.security.card_inbound import (
    CARD_REFUSED,
    OTHER_PATH_CASES,
    Findings,
    assert_nothing_stored_and_not_logged,
    cases,
    logged_in,
    response_haystack,
)

pytestmark = [pytest.mark.security, pytest.mark.slow]


# --- The OAuth callback: what the vendor's redirect carries back -------------------------------

OAUTH_FIELDS = ["realmId", "error"]


def test_a_card_number_in_an_oauth_callback_is_neither_stored_nor_shown(personas, quickbooks_fake, debug_logs):
    # given an admin connecting QuickBooks, and the vendor's redirect carrying a card in the company id
    # (stored with the grant) or in its denial reason (shown to the admin)
    client = logged_in(personas.merchant_admin)
    integration = quickbooks_enabled(personas.san_juan)
    corpus = cases("oauth-callback", OAUTH_FIELDS, OTHER_PATH_CASES)
    findings = Findings("GET /portal/oauth/callback/")

    def rows() -> dict:
        row = MerchantIntegration.objects.get(pk=integration.pk)
        return {"credentials_vault_key": row.credentials_vault_key, "VaultSecret": VaultSecret.objects.count()}

    before = rows()
    for case in corpus:
        start = client.post(reverse("portal:oauth-connect", args=[personas.san_juan.slug, integration.pk]))
        query = {**oauth_consent(start["Location"]), case.field: case.value}
        response = client.get(reverse("portal:oauth-callback"), query, follow=True)
        findings.check_echo(case, response_haystack(response), "the page")
        if case.field == "realmId" and CARD_REFUSED not in response.content.decode():
            findings.add(case, f"the page does not say the company id {CARD_REFUSED}")

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, rows())


# --- The IVU return's SURI confirmation number (merchant portal) -------------------------------

SURI_CONFIRMATION = re.compile(r"[A-Za-z0-9-]{4,40}")  # the shape taxes.filings accepts


def test_a_card_number_as_an_ivu_confirmation_number_is_refused(personas, debug_logs):
    # given SURI's return for October, and card numbers in the shape a confirmation number may take
    # (4 to 40 letters, digits or dashes: unbroken or dash-grouped)
    merchant = personas.san_juan
    suri = enabling.merchant_integration_enable(merchant=merchant, definition=definition("tax.suri_ivu"), by=None)
    suri = configuring.merchant_integration_configure(
        integration=suri, configuration={"merchant_registration_number": "1234567"}, by=None)
    filing = filing_prepare(merchant=merchant, period=date(2026, 10, 1))
    client = logged_in(personas.merchant_admin)
    corpus = cases("ivu-confirmation", ["confirmation"], OTHER_PATH_CASES,
                   keep=lambda case: SURI_CONFIRMATION.fullmatch(case.value.strip()) is not None)
    findings = Findings("portal IVU return marked filed")

    for case in corpus:
        response = client.post(reverse("portal:ivu-filed", args=[merchant.slug, suri.pk, filing.pk]),
                               {"confirmation": case.value}, follow=True)
        findings.check_echo(case, response_haystack(response), "the page")
        if CARD_REFUSED not in response.content.decode():
            findings.add(case, f"the page does not say the confirmation number {CARD_REFUSED}")
        stored = IvuFiling.objects.get(pk=filing.pk)
        if stored.filed_at is not None:
            findings.add(case, "the return was marked filed with it")
            IvuFiling.objects.filter(pk=filing.pk).update(filed_at=None, filed_by=None, confirmation="")

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, {}, {})
