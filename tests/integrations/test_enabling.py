"""Enabling an integration: who may enable what (status, vertical, module, location), one row per
place, and enabling many stores through the same writer as one."""

import pytest
from django.db import IntegrityError, transaction

from integrations.models import (
    DefinitionStatus,
    IntegrationDefinition,
    IntegrationStatusTransition,
    MerchantIntegration,
    Status,
)
from integrations.services import enabling
from qiiub.errors import NotAllowed
from tests.factories import definition, run_concurrently
from tests.sandbox_vendors import PHARMACY_RELAY_CODE


def test_enable_copies_the_partners_default_template_and_starts_configuring(personas):
    # given a PharmaTech pharmacy and PharmaTech's default QuickBooks template
    merchant = personas.pharmacies[2]

    # when its admin enables QuickBooks Online
    integration = enabling.merchant_integration_enable(
        merchant=merchant, definition=definition("accounting.quickbooks_online"), by=personas.partner_admin
    )

    # then the template's configuration (with schema defaults) and mappings are copied in
    assert integration.status == Status.CONFIGURING
    assert integration.configuration["posting"] == "journal_entry"
    assert set(integration.mappings.values_list("source_code", "target_code")) >= {("CASH", "36"), ("IVU_STATE", "80")}
    transition = integration.transitions.get()
    assert (transition.from_status, transition.to_status, transition.actor) == ("", Status.CONFIGURING, personas.partner_admin)
    assert "Standard QB for Pharmacies" in transition.reason


def test_direct_merchant_without_partner_enables_with_schema_defaults_only(personas):
    integration = enabling.merchant_integration_enable(
        merchant=personas.colmado, definition=definition("accounting.quickbooks_desktop"), by=personas.retail_admin
    )
    assert integration.configuration == {"period": "daily", "sales_income_account": "Sales"}
    assert not integration.mappings.exists()


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("crm.salesforce", None, "planned"),
        ("accounting.xero", DefinitionStatus.DEPRECATED, "deprecated"),
    ],
)
def test_planned_or_deprecated_definitions_cannot_be_enabled(personas, code, status, message):
    target = definition(code)
    if status:
        target.status = status
        target.save()
    with pytest.raises(NotAllowed, match=message):
        enabling.merchant_integration_enable(merchant=personas.colmado, definition=target, by=personas.retail_admin)
    assert not MerchantIntegration.objects.filter(definition=target).exists()


def test_liberty_is_planned_without_a_public_spec_and_enabling_it_is_refused_storing_nothing(personas):
    # given a pharmacy with the Rx module and a location: everything Liberty would ask for, were it available
    liberty = definition("pharmacy.liberty")
    transitions_before = IntegrationStatusTransition.objects.count()

    # when its admin enables Liberty there
    with pytest.raises(NotAllowed, match="Liberty Software is planned and not available yet"):
        enabling.merchant_integration_enable(merchant=personas.san_juan, definition=liberty,
                                             location=personas.san_juan.locations.first(), by=personas.merchant_admin)

    # then it is refused, and nothing was stored
    assert liberty.status == DefinitionStatus.PLANNED
    assert not MerchantIntegration.objects.filter(definition=liberty).exists()
    assert IntegrationStatusTransition.objects.count() == transitions_before


def test_enabling_without_the_required_module_is_refused(personas):
    # Ferretería Luna has no ecommerce module; Shopify requires it.
    merchant = personas.retail[1]
    with pytest.raises(NotAllowed, match="needs the module 'ecommerce'"):
        enabling.merchant_integration_enable(merchant=merchant, definition=definition("ecommerce.shopify"), by=None)
    assert not merchant.integrations.exists()


def test_a_pharmacy_only_definition_is_refused_for_a_retail_merchant(personas):
    merchant = personas.colmado
    merchant.modules.add(definition(PHARMACY_RELAY_CODE).required_module)  # even with the module
    with pytest.raises(NotAllowed, match="only for pharmacy merchants"):
        enabling.merchant_integration_enable(
            merchant=merchant, definition=definition(PHARMACY_RELAY_CODE), location=merchant.locations.first(), by=None
        )
    assert not merchant.integrations.exists()


def test_a_per_location_definition_needs_a_location_of_the_same_merchant(personas):
    relay = definition(PHARMACY_RELAY_CODE)
    with pytest.raises(NotAllowed, match="choose a location"):
        enabling.merchant_integration_enable(merchant=personas.san_juan, definition=relay, by=None)
    other_location = personas.pharmacies[1].locations.first()
    with pytest.raises(NotAllowed, match="another merchant"):
        enabling.merchant_integration_enable(merchant=personas.san_juan, definition=relay, location=other_location, by=None)
    assert not personas.san_juan.integrations.filter(definition=relay).exists()


def test_a_second_merchant_wide_activation_is_refused_by_the_service(personas):
    qbo = definition("accounting.quickbooks_online")
    enabling.merchant_integration_enable(merchant=personas.colmado, definition=qbo, by=None)
    with pytest.raises(NotAllowed, match="already enabled"):
        enabling.merchant_integration_enable(merchant=personas.colmado, definition=qbo, by=None)
    assert personas.colmado.integrations.filter(definition=qbo).count() == 1


def test_the_database_itself_refuses_a_second_merchant_wide_row(personas):
    # NULL location must count as equal, so a plain insert that skips the service fails too.
    qbo = definition("accounting.quickbooks_online")
    MerchantIntegration.objects.create(merchant=personas.colmado, definition=qbo, configuration={})
    with pytest.raises(IntegrityError), transaction.atomic():
        MerchantIntegration.objects.create(merchant=personas.colmado, definition=qbo, configuration={})
    assert personas.colmado.integrations.filter(definition=qbo).count() == 1


def test_a_merchant_wide_definition_cannot_also_be_enabled_per_location(personas):
    with pytest.raises(NotAllowed, match="once for all locations"):
        enabling.merchant_integration_enable(
            merchant=personas.colmado, definition=definition("accounting.quickbooks_online"),
            location=personas.colmado.locations.first(), by=None,
        )
    assert not personas.colmado.integrations.exists()


def test_two_enables_racing_for_the_same_row_end_with_one_row_and_a_clear_refusal(committed):
    merchant, xero = committed.retail[1], definition("accounting.xero")
    results = run_concurrently(lambda: enabling.merchant_integration_enable(merchant=merchant, definition=xero, by=None))
    refusals = [result for result in results if isinstance(result, NotAllowed)]
    assert len(refusals) == 1 and refusals[0].code == "already_enabled"
    assert merchant.integrations.filter(definition=xero).count() == 1


def test_the_same_definition_may_run_once_per_location(personas):
    relay = definition(PHARMACY_RELAY_CODE)
    first, second = personas.san_juan.locations.order_by("code")[:2]
    enabling.merchant_integration_enable(merchant=personas.san_juan, definition=relay, location=first, by=None)
    enabling.merchant_integration_enable(merchant=personas.san_juan, definition=relay, location=second, by=None)
    assert personas.san_juan.integrations.filter(definition=relay).count() == 2


def test_enabling_many_goes_through_the_one_transition_writer_like_enabling_one(personas):
    # given pharmacies with the Rx module, and a pharmacy relay, which runs at each location's terminals
    from merchants.models import Location

    pharmacies = [merchant for merchant in personas.pharmacies if merchant.modules.filter(code="pharmacy.rx").exists()]
    definition = IntegrationDefinition.objects.get(code=PHARMACY_RELAY_CODE)
    versions = dict(Location.objects.filter(merchant__in=pharmacies).values_list("pk", "config_version"))

    # when a partner enables it for all of them at once
    outcomes = enabling.merchant_integrations_enable_many(merchants=pharmacies, definition=definition, template=None,
                                                          by=personas.partner_admin, dry_run=False)

    # then each installation is configuring with its audit row, as when one is enabled,
    installed = MerchantIntegration.objects.filter(definition=definition, merchant__in=pharmacies)
    assert {outcome.code for outcome in outcomes.values()} == {"enabled"} and installed.count() == len(versions)
    assert set(installed.values_list("status", flat=True)) == {Status.CONFIGURING}
    audits = IntegrationStatusTransition.objects.filter(merchant_integration__in=installed)
    assert {(a.from_status, a.to_status, a.reason, a.actor_id) for a in audits} == {
        ("", Status.CONFIGURING, "Enabled", personas.partner_admin.pk)}
    # and every location's terminals see the change in their config
    after = dict(Location.objects.filter(pk__in=versions).values_list("pk", "config_version"))
    assert all(after[pk] > version for pk, version in versions.items())
