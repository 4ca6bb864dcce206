"""A refused form names each field by the label the person sees (its schema `title`), says so once
(the banner only points at the fields marked), and marks the offending field or row."""

import re

from django.test import Client
from django.urls import reverse

from devices.models import SettingDefinition, SettingValue
from integrations.models import MerchantIntegration
from qiiub.schemas import field_label
from tests.factories import ACUMATICA_CONFIG, active_acumatica

TCP_PRINTER_WITHOUT_HOST = {"model": "zebra_zpl", "connection": {"type": "tcp", "port": 9100}}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_nested_field_is_called_by_its_titles_through_the_device_type_alternatives(personas):
    schema = SettingDefinition.objects.get(key="devices.label_printer").schema

    assert field_label(schema, "connection.host") == "Connection › Host or IP address"
    assert field_label(schema, "model") == "Model"


def test_a_refused_setting_names_the_field_by_its_label_once_and_marks_its_row(personas):
    pharmacy = personas.pharmacies[0]
    url = f"/portal/m/{pharmacy.slug}/settings/"

    response = _client(personas.merchant_admin).post(url, {
        "key": "devices.label_printer", "@": "1", "@1.model": "zebra_zpl", "@1.connection@": "tcp",
        "@1.connection@tcp.port": "9100"}, follow=True)

    page = response.content.decode()
    assert response.status_code == 422
    assert page.count("This field is required.") == 1  # at its field, not again in the banner
    assert "Not saved: fix the fields marked." in page
    assert "connection.host" not in page
    row = re.search(r'<tr id="setting-deviceslabel_printer"[^>]*>', page).group(0)
    assert 'class="invalid"' in row
    assert 'aria-invalid="true" aria-describedby="e-deviceslabel_printer-@1.connection@tcp.host"' in page
    field = page[:page.index('aria-describedby="e-deviceslabel_printer-@1.connection@tcp.host"')]
    assert field.rindex("Host or IP address") > field.rindex("<fieldset")  # the message sits at that label
    assert not SettingValue.objects.filter(merchant=pharmacy, definition__key="devices.label_printer").exists()


def test_a_refused_configuration_marks_the_field_and_says_it_once(personas, simulator):
    integration = active_acumatica(personas.colmado, by=None)
    url = reverse("portal:configure", args=[personas.colmado.slug, integration.pk])

    response = _client(personas.retail_admin).post(
        url, {**ACUMATICA_CONFIG, "poll_every_minutes": "every hour"}, follow=True)

    page = response.content.decode()
    assert "The configuration is not valid: fix the fields marked." in page
    assert page.count("Must be a whole number.") == 1
    assert 'aria-invalid="true" aria-describedby="e-config-poll_every_minutes"' in page
    integration.refresh_from_db()
    assert MerchantIntegration.objects.get(pk=integration.pk).configuration["poll_every_minutes"] == 15


def test_a_card_number_in_a_configuration_is_named_by_its_label_once_and_never_shown(personas, simulator):
    integration = active_acumatica(personas.colmado, by=None)
    url = reverse("portal:configure", args=[personas.colmado.slug, integration.pk])

    response = _client(personas.retail_admin).post(url, {**ACUMATICA_CONFIG, "company": "4111 1111 1111 1111"})

    page = response.content.decode()
    assert response.status_code == 422
    assert page.count("looks like card data") == 1 and "Company looks like card data" in page
    assert "The configuration is not valid: fix the fields marked." in page  # the banner, without the detail
    assert "'company'" not in page and "4111" not in page
    integration.refresh_from_db()
    assert integration.configuration["company"] == ACUMATICA_CONFIG["company"]
