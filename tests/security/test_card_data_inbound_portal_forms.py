"""Card numbers typed into the portal's forms: integration configuration and credentials, webhook
endpoints, partner templates, POS settings and the mappings editor (each refused with the form
again, naming the field), and the Django admin. Real POS data must be saved where it is typed.
The machinery is in card_inbound.py.
"""

from __future__ import annotations

import random

import pytest
from django.urls import reverse

from devices.models import SettingValue
from integrations.models import IntegrationMapping, MerchantIntegration
from integrations.services import configuring, enabling
from partners.models import PartnerIntegrationTemplate
from qiiub.models import VaultSecret
from tests.card_corpus import must_pass_values
from tests.factories import ACUMATICA_CONFIG, definition, quickbooks_connected
from tests.security.card_inbound import (
    SEED,
    Findings,
    assert_nothing_stored_and_not_logged,
    cases,
    logged_in,
    refused_with,
)
from webhooks.models import WebhookEndpoint

pytestmark = [pytest.mark.security, pytest.mark.slow]

WEBHOOK_ENDPOINT_CASES = 315
CONFIGURATION_CASES = 294  # 6 fields (4 of the configuration, 2 of the credentials) x 7 groupings x 7
TEMPLATE_CASES = 315
SETTINGS_CASES = 300
MAPPING_CASES = 300


# --- Integration configuration and credentials (merchant portal) ------------------------------

@pytest.fixture
def acumatica(personas):
    integration = enabling.merchant_integration_enable(merchant=personas.colmado,
                                                        definition=definition("erp.acumatica"), by=None)
    return configuring.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=None)


CONFIGURATION_FIELDS = ["configure:company", "configure:endpoint_version", "configure:instance_url",
                        "configure:poll_every_minutes", "credentials:username", "credentials:password"]


def _configuration_rows(integration) -> dict:
    row = MerchantIntegration.objects.get(pk=integration.pk)
    return {"configuration": row.configuration, "credentials_set_at": row.credentials_set_at,
            "credentials_vault_key": row.credentials_vault_key, "VaultSecret": VaultSecret.objects.count()}


def test_a_card_number_in_an_integration_configuration_or_credentials_form_is_refused(personas, acumatica,
                                                                                       debug_logs):
    client = logged_in(personas.retail_admin)
    corpus = cases("configuration", CONFIGURATION_FIELDS, CONFIGURATION_CASES)
    findings = Findings("portal integration forms")
    before = _configuration_rows(acumatica)

    for case in corpus:
        form, field = case.field.split(":")
        value = f"https://erp.colmado.example.com/{case.value}" if field == "instance_url" else case.value
        if form == "configure":
            posted = {**ACUMATICA_CONFIG, "poll_every_minutes": "30", field: value}
        else:
            posted = {"username": "ops-colmado", "password": "s3cret-Passw0rd", field: value}
        response = client.post(reverse(f"portal:{form}", args=[personas.colmado.slug, acumatica.pk]), posted)
        refused_with(findings, case, response, field=field, api=False)

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, _configuration_rows(acumatica))


# --- Webhook endpoints (merchant portal) ------------------------------------------------------

def test_a_card_number_in_a_webhook_endpoint_description_or_url_is_refused(personas, debug_logs):
    client = logged_in(personas.retail_admin)
    corpus = cases("webhook-endpoint", ["description", "description", "url"], WEBHOOK_ENDPOINT_CASES)
    findings = Findings("portal webhook endpoint form")
    before = {"WebhookEndpoint": WebhookEndpoint.objects.count(), "VaultSecret": VaultSecret.objects.count()}

    for case in corpus:
        posted = {"url": "https://hooks.example.com/qiiub", "description": "Orders to the ERP",
                  "event_types": ["sale.completed"]}
        posted[case.field] = f"https://hooks.example.com/{case.value}" if case.field == "url" else case.value
        response = client.post(reverse("portal:webhooks", args=[personas.colmado.slug]), posted)
        refused_with(findings, case, response, field=case.field, api=False)

    after = {"WebhookEndpoint": WebhookEndpoint.objects.count(), "VaultSecret": VaultSecret.objects.count()}
    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, after)


def test_a_webhook_endpoint_described_with_real_pos_data_is_created(personas, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # a local receiver: no name to resolve
    client = logged_in(personas.retail_admin)
    rng = random.Random(f"{SEED}:webhook-endpoint-must-pass")
    for kind in ("phone", "reference", "last_four", "masked_card", "moment", "ndc", "rx_number"):
        for value in must_pass_values(kind, rng, 2):
            response = client.post(reverse("portal:webhooks", args=[personas.colmado.slug]), {
                "url": "https://127.0.0.1:8443/qiiub", "description": value, "event_types": ["sale.completed"]})
            assert response.status_code == 302, (kind, value)  # created: Post/Redirect/Get
            assert WebhookEndpoint.objects.filter(description=value.strip()).exists(), (kind, value)


# --- Other portal forms: partner templates, POS settings, the mappings editor --------------------

TEMPLATE_FIELDS = ["template_name", "company", "endpoint_version", "map:PaymentMethod:CREDIT", "map:Revenue:SALES"]
TEMPLATE_FIELD_NAMES = {"template_name": "name", "company": "company", "endpoint_version": "endpoint_version",
                        "map:PaymentMethod:CREDIT": "target", "map:Revenue:SALES": "target"}


def test_a_card_number_in_a_partner_template_name_configuration_or_mapping_is_refused(personas, debug_logs):
    client = logged_in(personas.partner_admin)
    url = reverse("portal:partner-template-new", args=[personas.partner.slug])
    corpus = cases("partner-template", TEMPLATE_FIELDS, TEMPLATE_CASES)
    findings = Findings("partner template form")
    before = {"PartnerIntegrationTemplate": PartnerIntegrationTemplate.objects.count()}

    for case in corpus:
        if case.field.startswith("map:"):
            posted = {"definition": "accounting.quickbooks_online", "template_name": "Receipts",
                      "posting": "sales_receipt", "map:PaymentMethod:CASH": "35", case.field: case.value}
        else:
            posted = {"definition": "erp.acumatica", "template_name": "Every colmado",
                      "instance_url": "https://erp.example.com", "company": "FSJ", case.field: case.value}
        response = client.post(url, posted)
        refused_with(findings, case, response, field=TEMPLATE_FIELD_NAMES[case.field], api=False)

    after = {"PartnerIntegrationTemplate": PartnerIntegrationTemplate.objects.count()}
    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, after)


SETTINGS_FIELDS = ["pos.receipt.footer", "devices.receipt_printer:model", "devices.receipt_printer:connection.host"]
# The receipt printer's form as a browser posts it (set up, over TCP); each case puts the card in one input.
PRINTER_FORM = {"@": "1", "@1.model": "epson_tm_t88", "@1.connection@": "tcp",
                "@1.connection@tcp.host": "192.168.1.40", "@1.connection@tcp.port": "9100",
                "@1.paper_width_mm": "80", "@1.cash_drawer_kick": "on"}
PRINTER_INPUTS = {"model": "@1.model", "connection.host": "@1.connection@tcp.host"}


def test_a_card_number_in_a_pos_setting_value_is_refused(personas, debug_logs):
    client = logged_in(personas.retail_admin)
    url = reverse("portal:merchant-settings", args=[personas.colmado.slug])
    corpus = cases("pos-settings", SETTINGS_FIELDS, SETTINGS_CASES)
    findings = Findings("POS settings form")
    before = {"SettingValue": SettingValue.objects.count()}

    for case in corpus:
        key, _, inside = case.field.partition(":")
        if inside:
            posted, field = {**PRINTER_FORM, PRINTER_INPUTS[inside]: case.value}, inside
        else:
            posted, field = {"value": case.value}, "value"
        response = client.post(url, {"key": key, **posted})
        refused_with(findings, case, response, field=field, api=False)

    after = {"SettingValue": SettingValue.objects.count()}
    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, after)


def test_a_receipt_footer_with_real_pos_data_is_saved(personas):
    client = logged_in(personas.retail_admin)
    url = reverse("portal:merchant-settings", args=[personas.colmado.slug])
    rng = random.Random(f"{SEED}:settings-must-pass")
    for kind in ("phone", "reference", "last_four", "masked_card", "moment", "rx_number", "ndc", "uuid"):
        for value in must_pass_values(kind, rng, 2):
            footer = f"Gracias. {value}"
            response = client.post(url, {"key": "pos.receipt.footer", "value": footer})
            assert response.status_code == 302, (kind, value, response.status_code)
            assert SettingValue.objects.get(merchant=personas.colmado, definition__key="pos.receipt.footer").value == \
                footer


def test_a_card_number_in_an_accounting_mapping_is_refused(personas, debug_logs):
    quickbooks = quickbooks_connected(personas.san_juan)
    client = logged_in(personas.merchant_admin)
    url = reverse("portal:mapping-set", args=[personas.san_juan.slug, quickbooks.pk])
    corpus = cases("mapping-editor", ["target", "target", "code"], MAPPING_CASES)
    findings = Findings("mappings editor")

    def mappings() -> list:
        return sorted(IntegrationMapping.objects.filter(merchant_integration=quickbooks).values_list(
            "map_group", "source_code", "target_code"))

    before = {"IntegrationMapping": mappings()}
    for case in corpus:
        posted = {"group": "PaymentMethod", "code": "CHECK", "target": "38", case.field: case.value}
        response = client.post(url, posted, HTTP_HX_REQUEST="true")
        refused_with(findings, case, response, field=case.field, api=False)

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, {"IntegrationMapping": mappings()})


# --- The Django admin --------------------------------------------------------------------------

def test_what_a_system_admin_types_in_the_admin_passes_the_guard(personas):
    from partners.models import Partner

    client = logged_in(personas.sysadmin)
    page = client.post(reverse("admin:partners_partner_add"), {"name": "Tarjeta 4111 1111 1111 1111", "slug": "tarjeta"})
    assert page.status_code == 200 and "This looks like card data" in page.content.decode()
    assert "1111 1111" not in page.content.decode() and not Partner.objects.filter(slug="tarjeta").exists()
