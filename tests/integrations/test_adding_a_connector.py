"""docs/adding-a-connector.md, followed for a vendor that exists only here (tests/integrations/punchcard):
its module, its seed entry and its simulator are all it takes for a merchant to enable, test, activate
and sync it through the real services, over HTTP. And the registry refuses a seed that says something
the connector does not do."""

import json
import shutil
import threading
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from integrations.models import IntegrationDefinition, Status, SyncStatus
from integrations.services import configuring, enabling, transitions
from integrations.services.registry import registry_load
from integrations.services.sync import merchant_integration_sync
from qiiub.http import AuthExpired
from qiiub.seed_files import SeedError
from tests.integrations.punchcard import connector as punchcard  # step 1: importing the module registers it
from tests.integrations.punchcard.simulator import API_KEY, make_server

SEED = Path(__file__).parent / "punchcard" / "seed.json"


@pytest.fixture
def seeds_with_punchcard(tmp_path):
    """Step 2: the seed entry, beside every other definition."""
    seeds = tmp_path / "seeds"
    shutil.copytree(Path(django_settings.BASE_DIR) / "seeds", seeds)
    shutil.copy(SEED, seeds / "integrations" / "loyalty.json")
    return seeds


@pytest.fixture
def punchcard_vendor(settings):
    """Step 3: its simulator, and the base URL setting pointed at it."""
    server = make_server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.PUNCHCARD_BASE_URL = f"http://127.0.0.1:{server.server_port}"
    yield server.state
    server.shutdown()


def test_a_connector_added_as_the_guide_says_is_enabled_tested_activated_and_synced(
        personas, seeds_with_punchcard, punchcard_vendor):
    registry_load(seeds_dir=seeds_with_punchcard)
    definition = IntegrationDefinition.objects.get(code=punchcard.CODE)
    admin, merchant = personas.retail_admin, personas.colmado

    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition, by=admin)
    integration = configuring.merchant_integration_configure(integration=integration,
                                                           configuration={"program": "colmado-rewards"}, by=admin)
    integration = configuring.merchant_integration_set_credentials(integration=integration,
                                                                 credentials={"api_key": "pk_wrong"}, by=admin)
    assert isinstance(configuring.merchant_integration_test_connection(integration=integration, by=admin), AuthExpired)
    integration = configuring.merchant_integration_set_credentials(integration=integration,
                                                                 credentials={"api_key": API_KEY}, by=admin)
    assert configuring.merchant_integration_test_connection(integration=integration, by=admin) is None
    integration = transitions.merchant_integration_activate(integration=integration, by=admin)
    assert integration.status == Status.ACTIVE

    punchcard_vendor.control({"members": [{"id": 1, "joined_at": "2026-12-01T10:00:00+00:00"},
                                          {"id": 2, "joined_at": "2026-12-02T10:00:00+00:00"}]})
    first = merchant_integration_sync(integration=integration)
    assert (first.status, first.records_pulled) == (SyncStatus.SUCCESS, 2)
    integration.refresh_from_db()
    second = merchant_integration_sync(integration=integration)
    assert second.records_pulled == 0  # from its watermark on
    assert punchcard_vendor.requests[-1] == "GET /v1/members"


@pytest.mark.parametrize(("change", "field"), [
    ({"sync_patterns": ["polling", "webhook_push"]}, "sync_patterns"),  # a pattern the connector cannot run
    ({"sync_patterns": []}, "sync_patterns"),  # one it runs, left out
    ({"requires_oauth": True}, "requires_oauth"),  # it signs in with an API key
])
def test_the_registry_refuses_a_seed_that_disagrees_with_its_connector_and_loads_nothing(
        db, seeds_with_punchcard, change, field):
    seed = seeds_with_punchcard / "integrations" / "loyalty.json"
    data = json.loads(seed.read_text())
    data["definitions"][0].update(change)
    seed.write_text(json.dumps(data))
    before = set(IntegrationDefinition.objects.values_list("code", "updated_at"))
    with pytest.raises(SeedError, match=rf"loyalty.json: definitions\[0\].{field}: "):
        registry_load(seeds_dir=seeds_with_punchcard)
    assert set(IntegrationDefinition.objects.values_list("code", "updated_at")) == before
