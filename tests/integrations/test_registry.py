import json
import shutil
from pathlib import Path

import pytest

from integrations.connectors.demo import DemoConnector
from integrations.connectors.registry import connector_class_for, has_connector, registered_codes
from integrations.models import Category, DefinitionStatus, IntegrationDefinition
from integrations.services.registry import registry_load
from pharmacy.connector import PharmacySystemConnector
from qiiub.seed_files import SeedError
from tests.conftest import SEEDS
from tests.sandbox_vendors import PHARMACY_RELAY_CODE, SANDBOX_CODES

PHASE_1 = {
    "accounting.quickbooks_online",
    "accounting.quickbooks_desktop",
    "accounting.xero",
    "ecommerce.shopify",
    "erp.acumatica",
    "tax.suri_ivu",
    "platform.webhooks",
    "pharmacy.rx30",
}
# PioneerRx has a public POS API and came with Rx30's relay; Liberty stays planned (no public spec).
PHASE_1_AVAILABLE = PHASE_1 | {"pharmacy.pioneerrx"} | {"payments.stripe", "payments.athmovil", "payments.dynamics"}
SEED_NOTE_EXAMPLES = {
    "accounting.quickbooks_online", "accounting.quickbooks_desktop", "accounting.xero",
    "pharmacy.rx30", "pharmacy.liberty", "pharmacy.pioneerrx",
    "ecommerce.shopify", "ecommerce.woocommerce",
    "erp.acumatica", "erp.sap_b1", "erp.dynamics_365_bc",
    "tax.suri_ivu", "crm.salesforce", "crm.hubspot",
    "delivery.doordash_drive", "delivery.uber_direct",
    "analytics.power_bi", "analytics.data_factory",
}


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _snapshot():
    return list(IntegrationDefinition.objects.order_by("code").values())


def _seeded():
    """The registry the seeds made (the test session adds the sandbox vendors)."""
    return IntegrationDefinition.objects.exclude(code__in=[*SANDBOX_CODES, PHARMACY_RELAY_CODE])


def test_the_registry_holds_every_category_and_seed_note_example_with_phase_1_available(db):
    codes = set(_seeded().values_list("code", flat=True))
    assert SEED_NOTE_EXAMPLES | PHASE_1 <= codes
    assert set(_seeded().values_list("category", flat=True)) == set(Category.values)
    available = set(_seeded().filter(status=DefinitionStatus.AVAILABLE).values_list("code", flat=True))
    assert available == PHASE_1_AVAILABLE
    assert PHASE_1_AVAILABLE <= registered_codes()


def test_rx30_and_pioneerrx_are_available_with_their_relay_connector_and_liberty_stays_planned(db):
    for code in ("pharmacy.rx30", "pharmacy.pioneerrx"):
        assert IntegrationDefinition.objects.get(code=code).status == DefinitionStatus.AVAILABLE
        assert issubclass(connector_class_for(code), PharmacySystemConnector)
    assert IntegrationDefinition.objects.get(code="pharmacy.liberty").status == DefinitionStatus.PLANNED
    assert not has_connector("pharmacy.liberty")


def test_no_definition_of_the_seeds_is_served_by_the_demo_connector(db):
    served = [code for code in _seeded().values_list("code", flat=True) if has_connector(code)]
    assert served  # every available one, at least
    assert [code for code in served if issubclass(connector_class_for(code), DemoConnector)] == []


def test_infrastructure_is_never_a_definition(db):
    listed = " ".join(f"{code} {name}" for code, name in IntegrationDefinition.objects.values_list("code", "name"))
    for infrastructure in ("mandrill", "email", "turnstile", "sentry", "iot"):
        assert infrastructure not in listed.lower()


def test_loading_twice_updates_in_place_and_duplicates_nothing(db):
    before = _seeded().count()
    report = registry_load(seeds_dir=SEEDS)
    assert (report.created, report.updated) == (0, before)
    assert _seeded().count() == before


def test_an_edited_seed_updates_the_existing_row(db, seeds_copy):
    path = seeds_copy / "integrations" / "erp.json"
    data = json.loads(path.read_text())
    data["definitions"][0]["name"] = "Acumatica Cloud ERP"
    path.write_text(json.dumps(data))
    registry_load(seeds_dir=seeds_copy)
    assert IntegrationDefinition.objects.get(code="erp.acumatica").name == "Acumatica Cloud ERP"


def test_reseeding_never_undoes_a_deprecation(db):
    IntegrationDefinition.objects.filter(code="accounting.xero").update(status=DefinitionStatus.DEPRECATED)
    registry_load(seeds_dir=SEEDS)
    assert IntegrationDefinition.objects.get(code="accounting.xero").status == DefinitionStatus.DEPRECATED


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda text, data: "{ not json", "erp.json: line 1: invalid JSON"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "configuration_schema": {"type": "no-such-type"}}]},
         "erp.json: definitions[0].configuration_schema: is not a valid JSON Schema"),
        (lambda text, data: {"definitions": [{k: v for k, v in data["definitions"][0].items() if k != "category"}]},
         "erp.json: definitions[0].category: is required"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "status": "beta"}]},
         "erp.json: definitions[0].status: 'beta' is not one of"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "required_module": "no.such.module"}]},
         "erp.json: definitions[0].required_module: unknown module"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "colour": "blue"}]},
         "erp.json: definitions[0].colour: is not a known field"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "configuration_schema": {
            "type": "object", "properties": {"mode": {"type": "string", "enum": ["a", "b"], "x-enumNames": ["A"]}}}}]},
         "erp.json: definitions[0].configuration_schema: is not a valid JSON Schema: x-enumNames has 1 labels"),
        (lambda text, data: {"defs": []}, "erp.json: definitions: the file must be an object"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "requires_oauth": "no"}]},
         "erp.json: definitions[0].requires_oauth: must be a bool, not str"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "description": None}]},
         "erp.json: definitions[0].description: must be a str, not NoneType"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "code": "erp." + "x" * 90}]},
         "erp.json: definitions[0].code: is longer than 80 characters"),
        (lambda text, data: {"definitions": [{**data["definitions"][0], "code": "Acumatica ERP"}]},
         "erp.json: definitions[0].code: must look like 'category.name'"),
    ],
)
def test_a_malformed_seed_file_fails_naming_file_and_field_and_changes_nothing(db, seeds_copy, mutate, expected):
    # given a seed directory where one file is broken, and another file carries a harmless edit
    accounting = seeds_copy / "integrations" / "accounting.json"
    edited = json.loads(accounting.read_text())
    edited["definitions"][0]["name"] = "Changed name that must not land"
    accounting.write_text(json.dumps(edited))
    path = seeds_copy / "integrations" / "erp.json"
    text = path.read_text()
    broken = mutate(text, json.loads(text))
    path.write_text(broken if isinstance(broken, str) else json.dumps(broken))
    before = _snapshot()

    # when the registry is loaded, then it fails naming file and field, and nothing changed
    with pytest.raises(SeedError) as error:
        registry_load(seeds_dir=seeds_copy)
    assert expected in error.value.message
    assert _snapshot() == before


def test_the_webhooks_seed_is_held_to_its_connector_like_every_other(db, seeds_copy):
    path = seeds_copy / "integrations" / "webhooks.json"
    data = json.loads(path.read_text())
    data["definitions"][0]["sync_patterns"] = ["webhook_push", "polling"]
    path.write_text(json.dumps(data))
    before = _snapshot()
    with pytest.raises(SeedError) as error:
        registry_load(seeds_dir=seeds_copy)
    assert error.value.message == ("webhooks.json: definitions[0].sync_patterns: say ['handle_event', 'poll'], but "
                                   "the connector of 'platform.webhooks' does ['handle_event']")
    assert _snapshot() == before


def test_a_malformed_modules_file_fails_naming_it_and_changes_nothing(db, seeds_copy):
    from merchants.models import Module

    (seeds_copy / "modules.json").write_text(json.dumps({"modules": [{"code": "new.module"}, {"name": "no code"}]}))
    before = list(Module.objects.values_list("code", flat=True))
    with pytest.raises(SeedError, match=r"modules.json: modules\[0\].name: must be text"):
        registry_load(seeds_dir=seeds_copy)
    assert list(Module.objects.values_list("code", flat=True)) == before


def test_every_connector_declares_exactly_what_its_definitions_sync_patterns_need(db):
    from integrations.connectors.base import CAPABILITY_FOR_PATTERN

    checked = 0
    for code, patterns in _seeded().filter(status=DefinitionStatus.AVAILABLE).values_list("code", "sync_patterns"):
        # pos_level needs nothing of the hub beyond the test: the store's relay or terminals run it
        needed = {"test_connection"} | {CAPABILITY_FOR_PATTERN[pattern] for pattern in patterns
                                        if pattern in CAPABILITY_FOR_PATTERN}
        assert connector_class_for(code).capabilities == needed, code
        checked += 1
    # QuickBooks Online and Desktop, Xero, Shopify, Acumatica, SURI, webhooks, Rx30, PioneerRx, and the
    # three card processors
    assert checked == 12
