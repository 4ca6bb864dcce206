"""A store on PioneerRx: the real relay signs its calls with the credentials the hub sealed for
it. With a wrong shared secret PioneerRx refuses every call, the relay says so in its heartbeat
and the hub's connection test shows an authentication error; with the right one, fills flow."""

from threading import Thread

import pytest
import requests
from django_tenants.utils import schema_context

from devices.models import EnrollmentPurpose
from devices.terminals import enrollment_code_create
from integrations.models import IntegrationDefinition, MerchantIntegration, Status
from integrations.services.configuring import merchant_integration_set_credentials, merchant_integration_test_connection
from pharmacy.models import PharmacyStation, Relay
from pharmacy.store.models import Prescription, ReceivedChange
from qiiub.http import AuthExpired
from simulators.pioneerrx import DEFAULT_API_KEY, DEFAULT_SHARED_SECRET, make_server
from tests.pharmacy.conftest import TIMING, RelayProcess, eventually

pytestmark = [pytest.mark.security, pytest.mark.slow]


@pytest.fixture
def pioneerrx():
    server = make_server(demo=True)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def location(committed):
    location = committed.pharmacies[4].locations.get()  # Farmacia Arecibo
    yield location
    PharmacyStation.objects.filter(location=location).delete()
    Relay.objects.filter(location=location).delete()
    with schema_context(location.merchant.schema_name):
        Prescription.objects.all().delete()
        ReceivedChange.objects.all().delete()


def test_a_wrong_shared_secret_shows_as_an_auth_error_and_the_right_one_lets_fills_through(
        location, pioneerrx, hub, tmp_path, committed, settings):
    for name, value in TIMING.items():  # as the hub runs: the relay's config version includes its timing
        setattr(settings, name, int(value))
    integration = MerchantIntegration.objects.create(
        merchant=location.merchant, definition=IntegrationDefinition.objects.get(code="pharmacy.pioneerrx"),
        location=location, status=Status.CONFIGURING, configuration={"base_url": pioneerrx})
    merchant_integration_set_credentials(integration=integration, by=committed.merchant_admin,
                                         credentials={"api_key": DEFAULT_API_KEY, "shared_secret": "not-the-secret"})
    relay = RelayProcess(hub, tmp_path / "relay", tmp_path / "relay.log")
    _, code = enrollment_code_create(location=location, purpose=EnrollmentPurpose.RELAY)
    relay.start(code, "Arecibo back office")
    try:
        eventually(lambda: Relay.objects.filter(location=location, last_error_code="auth_failed").exists(),
                   what="the relay reporting the refusal")
        assert requests.get(f"{pioneerrx}/_state", timeout=5).json()["auth_failures"] > 0

        failure = eventually(lambda: merchant_integration_test_connection(integration=integration,
                                                                          by=committed.merchant_admin),
                             what="the connection test failing")
        assert isinstance(failure, AuthExpired) and "refused the relay's credentials" in str(failure)

        merchant_integration_set_credentials(integration=integration, by=committed.merchant_admin,
                                             credentials={"api_key": DEFAULT_API_KEY,
                                                          "shared_secret": DEFAULT_SHARED_SECRET})

        def passes() -> bool:
            return merchant_integration_test_connection(integration=integration, by=committed.merchant_admin) is None

        eventually(passes, what="the connection test passing with the right secret")
        with schema_context(location.merchant.schema_name):
            eventually(lambda: Prescription.objects.count() == 3, what="PioneerRx's ready fills reaching the hub")
        assert "not-the-secret" not in relay.log() and DEFAULT_SHARED_SECRET not in relay.log()
    finally:
        relay.stop()
