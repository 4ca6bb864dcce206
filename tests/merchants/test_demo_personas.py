from django.contrib.auth import get_user_model

from integrations.models import IntegrationSyncLog, MerchantIntegration, PausedReason, Status
from integrations.services import configuring
from merchants.models import Domain, Location, Membership, Merchant
from seeds.demo import ensure_demo_integrations, ensure_personas


def _counts():
    return [
        model.objects.count()
        for model in (Merchant, Domain, Location, Membership, get_user_model(), MerchantIntegration, IntegrationSyncLog)
    ]


def test_the_demo_is_made_through_the_services_and_a_second_run_duplicates_nothing(personas, simulator):
    # given the personas, when the demo integrations are made twice
    ensure_demo_integrations(personas)
    after_first = _counts()
    ensure_demo_integrations(ensure_personas())

    # then nothing was duplicated, and the integrations are in the states the demo promises
    assert _counts() == after_first
    states = {
        (row.merchant.slug, row.definition.code): (row.status, row.paused_reason)
        for row in MerchantIntegration.objects.select_related("merchant", "definition")
    }
    assert states[("farmacia-san-juan", "accounting.quickbooks_online")] == (Status.ACTIVE, "")
    assert states[("farmacia-san-juan", "erp.acumatica")] == (Status.PAUSED, PausedReason.AUTO)
    assert states[("farmacia-san-juan", "platform.webhooks")] == (Status.CONFIGURING, "")  # no endpoint yet
    assert states[("farmacia-ponce", "accounting.quickbooks_online")] == (Status.ERROR, "")
    assert states[("colmado-rivera", "ecommerce.shopify")] == (Status.ACTIVE, "")
    assert states[("ferreteria-luna", "accounting.xero")] == (Status.ACTIVE, "")
    assert states[("farmacia-san-juan", "tax.suri_ivu")] == (Status.ACTIVE, "")
    assert not MerchantIntegration.objects.filter(definition__status="planned").exists()  # Rx30 is coming
    assert personas.san_juan.ivu_filings.count() == 1
    luna_xero = MerchantIntegration.objects.get(merchant__slug="ferreteria-luna", definition__code="accounting.xero")
    assert luna_xero.sync_logs.get().records_pushed == 1  # yesterday's journal
    assert Merchant.objects.filter(partner=personas.partner).count() == 5
    assert Merchant.objects.filter(partner__isnull=True).count() == 2


def test_a_restarted_simulator_forgets_its_grants_and_the_next_demo_run_reconnects(
        personas, simulator, quickbooks_fake, xero_fake):
    ensure_demo_integrations(personas)
    quickbooks_fake.control(reset=True)  # what restarting `make run` does to the simulators' memory
    xero_fake.control(reset=True)

    ensure_demo_integrations(ensure_personas())

    san_juan_qbo = MerchantIntegration.objects.get(merchant=personas.san_juan,
                                                   definition__code="accounting.quickbooks_online")
    assert san_juan_qbo.status == Status.ACTIVE
    assert configuring.merchant_integration_test_connection(integration=san_juan_qbo, by=None) is None
    assert quickbooks_fake.posted()["grants"]["authorization_code"] == 1  # San Juan again; Ponce stays revoked
    assert xero_fake.posted()["grants"]["authorization_code"] == 1
