"""SystemAdmin's Django admin: registry edits validated, deprecate and force-pause all through the lifecycle."""

import json

import pytest
from django.urls import reverse

from integrations.models import DefinitionStatus, IntegrationDefinition, PausedReason, Status
from partners.models import PartnerIntegrationTemplate
from tests.factories import active_acumatica, definition


@pytest.fixture
def sysadmin_client(client, personas):
    client.force_login(personas.sysadmin)
    return client


def _definition_form(target: IntegrationDefinition, **changes) -> dict:
    data = {
        "code": target.code, "name": target.name, "description": target.description, "category": target.category,
        "integration_type": target.integration_type, "scope": target.scope, "vertical_affinity": target.vertical_affinity,
        "configuration_schema": json.dumps(target.configuration_schema),
        "credentials_schema": json.dumps(target.credentials_schema),
        "required_module": target.required_module_id or "", "status": target.status,
        "sync_patterns": ",".join(target.sync_patterns),
    }
    if target.requires_oauth:
        data["requires_oauth"] = "on"
    data.update(changes)
    return data


def test_a_schema_edit_that_is_not_a_valid_json_schema_is_refused(sysadmin_client):
    target = definition("erp.acumatica")
    before = target.configuration_schema
    url = reverse("admin:integrations_integrationdefinition_change", args=[target.pk])
    response = sysadmin_client.post(url, _definition_form(target, configuration_schema=json.dumps({"type": 12})))
    assert response.status_code == 200
    assert "Not a valid JSON Schema" in response.content.decode()
    target.refresh_from_db()
    assert target.configuration_schema == before


def test_a_valid_schema_edit_is_saved_in_property_order(sysadmin_client):
    target = definition("erp.acumatica")
    schema = {"type": "object", "properties": {"zeta": {"type": "string"}, "alpha": {"type": "string"}}}
    url = reverse("admin:integrations_integrationdefinition_change", args=[target.pk])
    response = sysadmin_client.post(url, _definition_form(target, configuration_schema=json.dumps(schema)))
    assert response.status_code == 302
    target.refresh_from_db()
    assert list(target.configuration_schema["properties"]) == ["zeta", "alpha"]


def test_deprecate_and_force_pause_all_from_the_admin_go_through_the_lifecycle(sysadmin_client, personas, simulator):
    integration = active_acumatica(personas.colmado, by=None)
    changelist = reverse("admin:integrations_integrationdefinition_changelist")
    sysadmin_client.post(changelist, {"action": "force_pause_all", "_selected_action": [integration.definition_id],
                                      "confirmed": "yes"})
    integration.refresh_from_db()
    assert (integration.status, integration.paused_reason) == (Status.PAUSED, PausedReason.FORCED)
    assert integration.transitions.first().actor == personas.sysadmin

    sysadmin_client.post(changelist, {"action": "deprecate", "_selected_action": [integration.definition_id]})
    assert definition("erp.acumatica").status == DefinitionStatus.DEPRECATED


def test_the_merchant_integration_list_filters_by_status_partner_and_vertical(sysadmin_client, personas, simulator):
    active_acumatica(personas.colmado, by=None)
    url = reverse("admin:integrations_merchantintegration_changelist")
    page = sysadmin_client.get(url, {"status__exact": "active", "merchant__vertical": "retail"}).content.decode()
    assert "Colmado Rivera" in page
    page = sysadmin_client.get(url, {"merchant__partner__id__exact": personas.partner.pk}).content.decode()
    assert "Colmado Rivera" not in page


def test_a_template_whose_configuration_breaks_the_schema_is_refused(sysadmin_client, personas):
    url = reverse("admin:partners_partnerintegrationtemplate_add")
    response = sysadmin_client.post(
        url,
        {
            "partner": personas.partner.pk, "definition": definition("erp.acumatica").pk, "name": "Broken",
            "default_configuration": json.dumps({"poll_every_minutes": "soon"}), "default_mappings": "[]",
        },
    )
    assert response.status_code == 200
    assert "poll_every_minutes: Must be a whole number." in response.content.decode()
    assert not PartnerIntegrationTemplate.objects.filter(name="Broken").exists()


def test_a_second_default_template_for_the_same_definition_is_refused(sysadmin_client, personas):
    url = reverse("admin:partners_partnerintegrationtemplate_add")
    response = sysadmin_client.post(
        url,
        {
            "partner": personas.partner.pk, "definition": definition("accounting.quickbooks_online").pk,
            "name": "Another default", "default_configuration": "{}", "default_mappings": "[]", "is_default": "on",
        },
    )
    assert response.status_code == 200
    assert not PartnerIntegrationTemplate.objects.filter(name="Another default").exists()
