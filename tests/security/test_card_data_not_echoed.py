"""A value the card guard refuses is never rendered back: every portal and admin form whose
POST goes through the guard answers the refusal with the form again, the rest of the input kept,
and the card number nowhere in the page, and nothing stored."""

import html
import json
import re

import pytest
from django.urls import reverse

from integrations.models import IntegrationDefinition, IntegrationMapping, MerchantIntegration
from integrations.services import configuring, enabling
from partners.models import PartnerIntegrationTemplate
from qiiub.card_redaction import form_data_without_card_data, without_card_data
from qiiub.models import VaultSecret
from tests.factories import ACUMATICA_CONFIG, definition, quickbooks_connected
from webhooks.models import WebhookEndpoint

pytestmark = pytest.mark.security

# Shapes the guard refuses: Visa and Mastercard unbroken and 4-4-4-4 (spaces or dashes), Amex 4-6-5.
CARDS = ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "3782 822463 10005"]


def assert_nowhere(response, card: str) -> None:
    """The card is in no shape in the page: as typed, digits only, HTML-escaped, or split by spaces
    or dashes anywhere (an input, a hidden field, an error, a JSON text)."""
    body = response.content.decode()
    digits = re.sub(r"\D", "", card)
    for shape in (card, digits, html.escape(card), json.dumps(card)):
        assert shape not in body
    assert digits not in re.sub(r"[\s-]", "", html.unescape(body))


def _client(client, user):
    client.force_login(user)
    return client


# --- the helper itself ---------------------------------------------------------------------------

def test_the_helper_blanks_each_card_value_and_keeps_everything_else():
    value = {"company": "Colmado 4111 1111 1111 1111", "url": "https://erp.example.com", "poll": 15,
             "tags": ["a", "5500-0000-0000-0004", "b"], "cvv": "123",
             "nested": {"note": "378282246310005", "code": "CASH"}, "number": 4111111111111111}

    assert without_card_data(value) == {
        "company": "", "url": "https://erp.example.com", "poll": 15, "tags": ["a", "b"],
        "nested": {"note": "", "code": "CASH"}, "number": ""}


def test_the_helper_keeps_a_posted_json_text_without_its_card_data():
    from django.http import QueryDict

    posted = QueryDict(mutable=True)
    posted.update({"name": "Paid 4111-1111-1111-1111", "json": json.dumps({"a": "x", "b": "4111111111111111"}),
                   "broken": '{"b": "4111111111111111"', "plain": "ok"})

    cleaned = form_data_without_card_data(posted)

    assert cleaned["name"] == "" and cleaned["broken"] == "" and cleaned["plain"] == "ok"
    assert json.loads(cleaned["json"]) == {"a": "x", "b": ""}
    assert posted["name"] == "Paid 4111-1111-1111-1111"  # the request's own data is left alone


# --- merchant portal: webhook endpoints ---------------------------------------------------------

@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize("field", ["url", "description"])
def test_a_webhook_endpoint_with_a_card_number_is_refused_without_echoing_it(client, personas, card, field):
    # given
    client = _client(client, personas.retail_admin)
    posted = {"url": "https://hooks.example.com/qiiub", "description": "Orders to the ERP",
              "event_types": ["sale.completed"]}
    posted[field] = f"https://hooks.example.com/{card}" if field == "url" else f"Paid with {card}"
    before = WebhookEndpoint.objects.count()

    # when
    response = client.post(reverse("portal:webhooks", args=[personas.colmado.slug]), posted)

    # then
    assert response.status_code == 422 and "looks like card data" in response.content.decode()
    assert_nowhere(response, card)
    kept = "Orders to the ERP" if field == "url" else "https://hooks.example.com/qiiub"
    assert kept in response.content.decode() and 'value="sale.completed" checked' in response.content.decode()
    assert WebhookEndpoint.objects.count() == before


# --- merchant portal: integration configuration and credentials ---------------------------------

@pytest.fixture
def acumatica(personas):
    integration = enabling.merchant_integration_enable(merchant=personas.colmado, definition=definition("erp.acumatica"),
                                                        by=None)
    return configuring.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=None)


@pytest.mark.parametrize("card", CARDS)
def test_a_configuration_with_card_numbers_is_refused_without_echoing_any(client, personas, acumatica, card):
    # given two fields holding card data: the guard names the first, neither comes back
    client = _client(client, personas.retail_admin)
    url = reverse("portal:configure", args=[personas.colmado.slug, acumatica.pk])

    # when
    response = client.post(url, {"instance_url": "https://erp.colmado.example.com", "company": f"Colmado {card}",
                                 "endpoint_version": card, "poll_every_minutes": "30"})

    # then
    assert response.status_code == 422 and "looks like card data" in response.content.decode()
    assert_nowhere(response, card)
    assert "https://erp.colmado.example.com" in response.content.decode()
    assert MerchantIntegration.objects.get(pk=acumatica.pk).configuration == ACUMATICA_CONFIG


@pytest.mark.parametrize("card", ["4111111111111111", "4111 1111 1111 1111", "378282246310005"])
def test_a_card_number_in_an_integer_field_is_refused_without_echoing_it(client, personas, acumatica, card):
    client = _client(client, personas.retail_admin)

    response = client.post(reverse("portal:configure", args=[personas.colmado.slug, acumatica.pk]),
                           {**ACUMATICA_CONFIG, "poll_every_minutes": card})

    assert response.status_code == 422
    assert_nowhere(response, card)
    assert MerchantIntegration.objects.get(pk=acumatica.pk).configuration == ACUMATICA_CONFIG


@pytest.mark.parametrize("card", CARDS)
def test_credentials_with_a_card_number_are_refused_without_echoing_it(client, personas, acumatica, card):
    client = _client(client, personas.retail_admin)
    secrets_before = VaultSecret.objects.count()

    response = client.post(reverse("portal:credentials", args=[personas.colmado.slug, acumatica.pk]),
                           {"username": f"ops {card}", "password": card})

    assert response.status_code == 422 and "looks like card data" in response.content.decode()
    assert_nowhere(response, card)
    assert MerchantIntegration.objects.get(pk=acumatica.pk).credentials_set_at is None
    assert VaultSecret.objects.count() == secrets_before


# --- merchant portal: the mappings editor -------------------------------------------------------

@pytest.fixture
def quickbooks(personas):
    return quickbooks_connected(personas.san_juan)


def _mappings(integration) -> list:
    return sorted(IntegrationMapping.objects.filter(merchant_integration=integration).values_list(
        "map_group", "source_code", "target_code"))


@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize("field", ["target", "code", "group"])
def test_a_mapping_with_a_card_number_is_refused_in_its_row_without_echoing_it(client, personas, quickbooks, card,
                                                                                field):
    client = _client(client, personas.merchant_admin)
    before = _mappings(quickbooks)
    posted = {"group": "PaymentMethod", "code": "CHECK", "target": "38", field: card}

    response = client.post(reverse("portal:mapping-set", args=[personas.san_juan.slug, quickbooks.pk]), posted,
                           HTTP_HX_REQUEST="true")

    assert response.status_code == 422 and "looks like card data" in response.content.decode()
    assert_nowhere(response, card)
    assert _mappings(quickbooks) == before


@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "3782 822463 10005"])
def test_a_mapping_with_a_card_number_posted_without_htmx_is_refused_on_the_page_without_echoing_it(
        client, personas, quickbooks, card):
    client = _client(client, personas.merchant_admin)
    before = _mappings(quickbooks)

    response = client.post(reverse("portal:mapping-set", args=[personas.san_juan.slug, quickbooks.pk]),
                           {"group": "PaymentMethod", "code": "CHECK", "target": f"Card {card}"}, follow=True)

    assert response.redirect_chain and "looks like card data" in response.content.decode()
    assert_nowhere(response, card)
    assert _mappings(quickbooks) == before


# --- partner portal: templates -----------------------------------------------------------------

def _template_url(personas):
    return reverse("portal:partner-template-new", args=[personas.partner.slug])


@pytest.mark.parametrize("card", CARDS)
def test_a_template_configuration_with_a_card_number_is_refused_without_echoing_it(client, personas, card):
    client = _client(client, personas.partner_admin)
    before = PartnerIntegrationTemplate.objects.count()

    response = client.post(_template_url(personas), {
        "definition": "erp.acumatica", "template_name": "Every colmado", "instance_url": "https://erp.example.com",
        "company": f"Colmado {card}", "endpoint_version": card})

    assert response.status_code == 422 and "looks like card data" in response.content.decode()
    assert_nowhere(response, card)
    assert "Every colmado" in response.content.decode() and "https://erp.example.com" in response.content.decode()
    assert PartnerIntegrationTemplate.objects.count() == before


@pytest.mark.parametrize("card", CARDS)
def test_template_mappings_with_a_card_number_are_refused_without_echoing_it(client, personas, card):
    client = _client(client, personas.partner_admin)
    before = PartnerIntegrationTemplate.objects.count()

    response = client.post(_template_url(personas), {
        "definition": "accounting.quickbooks_online", "template_name": "Receipts", "posting": "sales_receipt",
        "map:PaymentMethod:CASH": "35", "map:PaymentMethod:CREDIT": card, "map:Revenue:SALES": f"Sales {card}"})

    assert response.status_code == 422 and "looks like card data" in response.content.decode()
    assert_nowhere(response, card)
    assert 'name="map:PaymentMethod:CASH" value="35"' in response.content.decode()
    assert PartnerIntegrationTemplate.objects.count() == before


@pytest.mark.parametrize("card", CARDS)
def test_a_template_name_with_a_card_number_is_refused_without_echoing_it(client, personas, card):
    client = _client(client, personas.partner_admin)
    before = PartnerIntegrationTemplate.objects.count()

    response = client.post(_template_url(personas), {
        "definition": "erp.acumatica", "template_name": f"Store {card}", "instance_url": "https://erp.example.com",
        "company": "FSJ"})

    assert response.status_code == 422 and "looks like card data" in response.content.decode()
    assert_nowhere(response, card)
    assert PartnerIntegrationTemplate.objects.count() == before


def test_a_card_number_is_not_echoed_when_another_check_refuses_the_template_first(client, personas):
    # given no name (refused before the configuration is looked at) and a card in a mapping
    client = _client(client, personas.partner_admin)
    card = "4111 1111 1111 1111"

    response = client.post(_template_url(personas), {
        "definition": "accounting.quickbooks_online", "template_name": "", "posting": "sales_receipt",
        "map:PaymentMethod:CASH": card})

    assert response.status_code == 422
    assert_nowhere(response, card)


# --- SystemAdmin's Django admin ----------------------------------------------------------------

@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize("field", ["name", "default_configuration", "default_mappings"])
def test_the_admin_refuses_a_template_with_a_card_number_without_echoing_it(client, personas, card, field):
    client = _client(client, personas.sysadmin)
    before = PartnerIntegrationTemplate.objects.count()
    posted = {
        "partner": personas.partner.pk, "definition": definition("accounting.quickbooks_online").pk,
        "name": "Admin receipts", "default_configuration": json.dumps({"posting": "sales_receipt"}),
        "default_mappings": json.dumps([{"map_group": "PaymentMethod", "source_code": "CASH", "target_code": "35"}]),
    }
    posted[field] = {
        "name": f"Receipts {card}",
        "default_configuration": json.dumps({"posting": "sales_receipt", "memo": card}),
        "default_mappings": json.dumps([{"map_group": "PaymentMethod", "source_code": "CASH", "target_code": "35"},
                                        {"map_group": "PaymentMethod", "source_code": "CREDIT", "target_code": card}]),
    }[field]

    response = client.post(reverse("admin:partners_partnerintegrationtemplate_add"), posted)

    assert response.status_code == 200 and "card data" in response.content.decode()
    assert_nowhere(response, card)
    assert "sales_receipt" in response.content.decode()  # the rest of the input is kept
    assert PartnerIntegrationTemplate.objects.count() == before


@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize("where", ["description", "key"])
def test_the_admin_refuses_a_schema_with_a_card_number_without_echoing_it(client, personas, card, where):
    client = _client(client, personas.sysadmin)
    target = definition("erp.acumatica")
    before = target.configuration_schema
    schema = json.loads(json.dumps(before))
    if where == "description":
        schema["properties"]["company"]["description"] = f"Test with {card}"
    else:
        schema["properties"][card] = {"type": "string"}
    posted = {
        "name": target.name, "description": target.description, "category": target.category,
        "integration_type": target.integration_type, "scope": target.scope,
        "vertical_affinity": target.vertical_affinity, "configuration_schema": json.dumps(schema),
        "credentials_schema": json.dumps(target.credentials_schema), "required_module": target.required_module_id or "",
        "status": target.status, "sync_patterns": ",".join(target.sync_patterns),
    }

    response = client.post(reverse("admin:integrations_integrationdefinition_change", args=[target.pk]), posted)

    assert response.status_code == 200 and "card data" in response.content.decode()
    assert_nowhere(response, card)
    assert "instance_url" in response.content.decode()
    assert IntegrationDefinition.objects.get(pk=target.pk).configuration_schema == before


def test_an_admin_choice_quoting_a_card_number_does_not_echo_it(client, personas):
    # a choice field's error quotes the value sent ("… is not one of the available choices")
    client = _client(client, personas.sysadmin)
    target = definition("erp.acumatica")
    card = "4111 1111 1111 1111"

    response = client.post(reverse("admin:integrations_integrationdefinition_change", args=[target.pk]), {
        "name": target.name, "category": card, "integration_type": target.integration_type, "scope": target.scope,
        "configuration_schema": json.dumps(target.configuration_schema), "credentials_schema": "{}",
        "status": target.status})

    assert response.status_code == 200
    assert_nowhere(response, card)
    assert IntegrationDefinition.objects.get(pk=target.pk).category == target.category



@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_a_failed_sign_in_never_shows_a_card_number_typed_as_the_username(db, client, path):
    for username in ("4111 1111 1111 1111", "378282246310005"):
        page = client.post(path, {"username": username, "password": "wrong"})
        body = page.content.decode()
        assert page.status_code == 200 and "username" in body.lower()
        assert username not in body and username.replace(" ", "") not in body.replace(" ", "")
    # an ordinary username is still shown again, so the person can fix the password
    page = client.post(path, {"username": "colmado-admin", "password": "wrong"})
    assert 'value="colmado-admin"' in page.content.decode()
