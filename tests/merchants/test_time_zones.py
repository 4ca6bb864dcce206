"""Portal times read in the merchant's hours: on a merchant's pages whoever looks, for a merchant
admin everywhere, else PORTAL_TIME_ZONE; the page says which zone it uses."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from integrations.models import IntegrationSyncLog, MerchantIntegration, Status, SyncStatus
from merchants.models import Merchant
from tests.factories import definition


def _run_at(merchant, when: datetime) -> MerchantIntegration:
    integration = MerchantIntegration.objects.create(merchant=merchant, definition=definition("erp.acumatica"),
                                                     status=Status.ACTIVE)
    IntegrationSyncLog.objects.create(merchant_integration=integration, direction="pull", status=SyncStatus.SUCCESS,
                                      started_at=when, finished_at=when)
    return integration


RUN = datetime(2026, 12, 2, 2, 30, 15, tzinfo=UTC)  # 22:30:15 the day before in San Juan, 21:30:15 in New York


def test_a_merchant_admin_reads_a_run_in_the_merchants_hours(client, personas):
    integration = _run_at(personas.colmado, RUN)
    client.force_login(personas.retail_admin)

    page = client.get(reverse("portal:integration", args=[personas.colmado.slug, integration.pk])).content.decode()

    assert "22:30:15" in page and "02:30:15" not in page
    assert "America/Puerto_Rico" in page  # the page says which hours


def test_anyone_on_a_merchants_page_reads_that_merchants_hours(client, personas, settings):
    settings.PORTAL_TIME_ZONE = "UTC"
    Merchant.objects.filter(pk=personas.colmado.pk).update(time_zone="America/New_York")
    integration = _run_at(personas.colmado, RUN)
    client.force_login(personas.sysadmin)

    page = client.get(reverse("portal:integration", args=[personas.colmado.slug, integration.pk])).content.decode()

    assert "21:30:15" in page and "America/New_York" in page


def test_off_a_merchants_pages_a_partner_admin_reads_the_portal_default(client, personas, settings):
    settings.PORTAL_TIME_ZONE = "America/Chicago"
    client.force_login(personas.partner_admin)

    page = client.get(reverse("portal:home"), follow=True).content.decode()

    assert "America/Chicago" in page


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../../etc/passwd", ""])
def test_a_time_zone_that_does_not_exist_is_refused_in_the_admin_and_nothing_is_stored(client, personas, zone):
    merchant = personas.colmado
    client.force_login(personas.sysadmin)
    url = reverse("admin:merchants_merchant_change", args=[merchant.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "modules"}
    data.update({"time_zone": zone, "locations-TOTAL_FORMS": "0", "locations-INITIAL_FORMS": "0"})

    answer = client.post(url, data)

    assert answer.status_code == 200 and answer.context["adminform"].form.errors["time_zone"]
    assert Merchant.objects.get(pk=merchant.pk).time_zone == "America/Puerto_Rico"
