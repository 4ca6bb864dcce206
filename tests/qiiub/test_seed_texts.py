"""Texts from the seeds (catalog descriptions, schema titles and option labels, POS setting
descriptions) in the reader's language: marked in qiiub/seed_strings.py, generated from the seeds,
and translated when shown; what is stored is the raw enum value."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from integrations.models import MerchantIntegration
from integrations.schema_forms import schema_fields, values_from_post
from integrations.services import configuring, enabling
from merchants.models import Role
from merchants.services import membership_grant
from qiiub.schemas import schema_problem
from tests.factories import definition

GENERATED = Path(settings.BASE_DIR) / "qiiub" / "seed_strings.py"


def test_the_seed_strings_module_is_current_with_the_seeds(tmp_path):
    # given the module generated again from today's seeds
    call_command("seed_strings", output=str(tmp_path / "seed_strings.py"), stdout=io.StringIO())

    # then it is the committed one
    assert (tmp_path / "seed_strings.py").read_text(encoding="utf-8") == GENERATED.read_text(encoding="utf-8"), (
        "qiiub/seed_strings.py is out of date with seeds/: run `.venv/bin/python manage.py seed_strings`, then "
        "makemessages, translate the new entries and compilemessages (README, \"Languages\")"
    )


def test_every_seed_text_a_person_reads_is_marked():
    source = GENERATED.read_text(encoding="utf-8")
    for text in ("Post as", "Journal entry", "Sales receipt", "Card processor the payment terminal settles with.",
                 "Español", "Online orders deduct store inventory; the online store's stock levels are pushed to Shopify."):
        assert f'gettext_noop("{text}")' in source
    assert 'gettext_noop("QuickBooks Online")' not in source  # product names are not seed texts


# x-enumNames: labels beside enum


def test_x_enum_names_label_the_options_and_the_raw_value_is_what_is_posted_back():
    schema = {"type": "object", "properties": {
        "posting": {"title": "Post as", "type": "string", "enum": ["journal_entry", "sales_receipt"],
                    "x-enumNames": ["Journal entry", "Sales receipt"]},
        "mode": {"type": "string", "enum": ["socket", "file"]},
    }}
    with translation.override("en"):
        posting, mode = schema_fields(schema, {"posting": "sales_receipt"})
    assert posting.choices == [("journal_entry", "Journal entry"), ("sales_receipt", "Sales receipt")]
    assert mode.choices == [("socket", "socket"), ("file", "file")]  # no labels: the raw value
    from django.http import QueryDict

    assert values_from_post(schema, QueryDict("posting=sales_receipt&mode=file")) == {
        "posting": "sales_receipt", "mode": "file"}


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "string", "enum": ["a", "b"], "x-enumNames": ["A"]}, "x-enumNames has 1 labels for 2 enum values"),
        ({"type": "string", "x-enumNames": ["A"]}, "x-enumNames needs an enum beside it"),
        ({"type": "object", "properties": {"p": {"enum": [1], "x-enumNames": [1]}}}, "x-enumNames must be a list of"),
    ],
)
def test_a_schema_with_inconsistent_x_enum_names_is_not_valid(schema, problem):
    assert problem in schema_problem(schema)
    assert schema_problem({"type": "string", "enum": ["a", "b"], "x-enumNames": ["A", "B"]}) is None
    # a property may be called x-enumNames: only the keyword beside enum is checked
    assert schema_problem({"type": "object", "properties": {"x-enumNames": {"type": "string"}}}) is None


# In the portal


def _spanish_admin(personas, username: str):
    """A new admin of San Juan (merchant language es) who chose nothing: reads Spanish."""
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "x")
    membership_grant(user=user, role=Role.MERCHANT_ADMIN, merchant=personas.san_juan)
    return user


@pytest.fixture
def san_juan_qbo(personas) -> MerchantIntegration:
    existing = MerchantIntegration.objects.filter(
        merchant=personas.san_juan, definition__code="accounting.quickbooks_online").exclude(status="disconnected").first()
    return existing or enabling.merchant_integration_enable(
        merchant=personas.san_juan, definition=definition("accounting.quickbooks_online"), by=None)


def test_the_configuration_form_reads_spanish_and_saving_stores_the_raw_value(client, personas, san_juan_qbo):
    # given San Juan's QuickBooks Online, configured for sales receipts, and an admin reading Spanish
    configuring.merchant_integration_configure(integration=san_juan_qbo, configuration={"posting": "sales_receipt"}, by=None)
    client.force_login(_spanish_admin(personas, "sanjuan-contable"))
    detail = reverse("portal:integration", args=[personas.san_juan.slug, san_juan_qbo.pk])

    # when they open the integration
    page = client.get(detail).content.decode()

    # then the label, help text and options are in Spanish, and the values are the raw ones
    assert "Registrar como" in page and "Post as" not in page
    assert "Un asiento de diario mueve las formas de pago" in page
    assert '<option value="journal_entry" >Asiento de diario</option>' in page
    assert '<option value="sales_receipt" selected>Recibo de venta</option>' in page
    assert "Journal entry" not in page

    # and posting the form stores the raw enum value
    answer = client.post(reverse("portal:configure", args=[personas.san_juan.slug, san_juan_qbo.pk]),
                         {"posting": "journal_entry"})
    assert answer.status_code == 302
    san_juan_qbo.refresh_from_db()
    assert san_juan_qbo.configuration == {"posting": "journal_entry"}


def test_an_english_reader_sees_the_seed_texts_as_written(client, personas, san_juan_qbo):
    client.force_login(personas.merchant_admin)  # chose English (tests/conftest.py)
    page = client.get(reverse("portal:integration", args=[personas.san_juan.slug, san_juan_qbo.pk])).content.decode()
    assert "Post as" in page and ">Journal entry</option>" in page and ">Sales receipt</option>" in page
    assert "A journal entry moves tenders, sales and IVU between accounts" in page
    assert "Registrar como" not in page


def test_the_pos_settings_page_reads_spanish(client, personas):
    client.force_login(_spanish_admin(personas, "sanjuan-ajustes"))
    page = client.get(reverse("portal:merchant-settings", args=[personas.san_juan.slug])).content.decode()
    assert "Procesador de tarjetas con el que liquida la terminal de pago." in page
    assert "Card processor the payment terminal settles with." not in page
    assert '<option value="dynamics_payments" selected>Dynamics Payments</option>' in page
    assert '<option value="es" selected>Español</option><option value="en" >English</option>' in page


def test_the_pos_settings_page_reads_english_for_an_english_reader(client, personas):
    client.force_login(personas.merchant_admin)
    page = client.get(reverse("portal:merchant-settings", args=[personas.san_juan.slug])).content.decode()
    assert "Card processor the payment terminal settles with." in page
    assert '<option value="stripe" >Stripe</option>' in page


def test_the_catalog_shows_spanish_descriptions_and_keeps_product_names(client, personas):
    client.force_login(_spanish_admin(personas, "sanjuan-catalogo"))
    page = client.get(reverse("portal:catalog", args=[personas.san_juan.slug])).content.decode()
    assert "Las recetas listas para recoger en cada caja, y de vuelta a Rx30" in page
    assert "Prescriptions ready for pickup" not in page
    assert "<h2>QuickBooks Online</h2>" in page and "<h2>Rx30</h2>" in page

    client.force_login(personas.merchant_admin)
    page = client.get(reverse("portal:catalog", args=[personas.san_juan.slug])).content.decode()
    assert "Prescriptions ready for pickup at every register, and pickups, signatures, Rx sales and returns back to Rx30" in page
