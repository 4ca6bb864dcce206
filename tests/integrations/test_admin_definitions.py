"""SystemAdmin changing a definition in use: force-pause asks first with the counts, a schema that
would invalidate live installations names them and needs a confirmation, and a definition in use
cannot be deleted and says by how many stores."""

import json

import pytest
from django.urls import reverse

from integrations.models import IntegrationDefinition, PausedReason, Status
from tests.factories import active_acumatica, definition
from tests.integrations.test_admin import _definition_form

CHANGELIST = reverse("admin:integrations_integrationdefinition_changelist")


@pytest.fixture
def sysadmin_client(client, personas):
    client.force_login(personas.sysadmin)
    return client


@pytest.fixture
def acumatica_installations(personas, simulator):
    """Colmado Rivera's Acumatica active, Farmacia Ponce's in error (its vendor refused the sign-in)."""
    active = active_acumatica(personas.colmado, by=None, token="tok-adm-1")
    erroring = active_acumatica(personas.pharmacies[1], by=None, token="tok-adm-2")
    erroring.status = Status.ERROR
    erroring.save(update_fields=["status"])
    return active, erroring


def test_force_pause_all_first_asks_with_the_counts_by_status_and_pauses_nothing(
    sysadmin_client, acumatica_installations
):
    active, erroring = acumatica_installations

    response = sysadmin_client.post(CHANGELIST, {"action": "force_pause_all", "_selected_action": [active.definition_id],
                                                 "index": 0})

    page = response.content.decode()
    assert response.status_code == 200
    assert "1 active" in page and "1 in error" in page and "those keep their reconnect notice" in page
    assert 'name="confirmed" value="yes"' in page
    active.refresh_from_db()
    erroring.refresh_from_db()
    assert (active.status, erroring.status) == (Status.ACTIVE, Status.ERROR)


def test_the_confirmed_force_pause_pauses_active_and_erroring_installations(sysadmin_client, acumatica_installations):
    active, erroring = acumatica_installations

    response = sysadmin_client.post(CHANGELIST, {"action": "force_pause_all", "_selected_action": [active.definition_id],
                                                 "confirmed": "yes"}, follow=True)

    assert "Paused 2 integrations." in [str(message) for message in response.context["messages"]]
    for integration in (active, erroring):
        integration.refresh_from_db()
        assert (integration.status, integration.paused_reason) == (Status.PAUSED, PausedReason.FORCED)
        # the reason is stored as a code (read in the reader's language), not an English sentence
        assert integration.transitions.first().reason_code == "force_paused"


def _with_new_required_field(target: IntegrationDefinition) -> dict:
    schema = json.loads(json.dumps(target.configuration_schema))
    schema["properties"]["warehouse"] = {"type": "string", "title": "Warehouse"}
    schema["required"] = [*schema.get("required", []), "warehouse"]
    return schema


def test_a_schema_that_would_invalidate_live_installations_is_refused_naming_them(
    sysadmin_client, personas, acumatica_installations
):
    target = definition("erp.acumatica")
    before = target.configuration_schema
    url = reverse("admin:integrations_integrationdefinition_change", args=[target.pk])

    response = sysadmin_client.post(url, _definition_form(
        target, configuration_schema=json.dumps(_with_new_required_field(target))))

    page = response.content.decode()
    assert response.status_code == 200
    assert "This schema would make 2 live installations invalid" in page
    assert personas.colmado.name in page and personas.pharmacies[1].name in page
    target.refresh_from_db()
    assert target.configuration_schema == before


def test_the_invalidating_schema_is_saved_once_confirmed(sysadmin_client, acumatica_installations):
    target = definition("erp.acumatica")
    schema = _with_new_required_field(target)
    url = reverse("admin:integrations_integrationdefinition_change", args=[target.pk])

    response = sysadmin_client.post(url, _definition_form(
        target, configuration_schema=json.dumps(schema), confirm_invalidating="on"))

    assert response.status_code == 302
    target.refresh_from_db()
    assert "warehouse" in target.configuration_schema["required"]


def test_a_schema_change_that_every_installation_still_meets_needs_no_confirmation(
    sysadmin_client, acumatica_installations
):
    target = definition("erp.acumatica")
    schema = json.loads(json.dumps(target.configuration_schema))
    schema["properties"]["note"] = {"type": "string", "title": "Note"}
    url = reverse("admin:integrations_integrationdefinition_change", args=[target.pk])

    response = sysadmin_client.post(url, _definition_form(target, configuration_schema=json.dumps(schema)))

    assert response.status_code == 302
    target.refresh_from_db()
    assert "note" in target.configuration_schema["properties"]


def test_deleting_a_definition_in_use_says_how_many_stores_use_it(sysadmin_client, acumatica_installations):
    target = definition("erp.acumatica")
    url = reverse("admin:integrations_integrationdefinition_delete", args=[target.pk])

    page = sysadmin_client.get(url).content.decode()
    posted = sysadmin_client.post(url, {"post": "yes"})

    assert "Acumatica" in page and "is in use by 2 stores" in page
    assert "Merchant integration:" not in page
    assert posted.status_code in (200, 403)
    assert IntegrationDefinition.objects.filter(pk=target.pk).exists()
