"""Partner admin: store health worst first, counts by status and integration, one row per
outage with its store count, filters and search; another partner's page answers 404."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from integrations.models import MerchantIntegration
from integrations.services import health
from partners.models import Partner
from qiiub.http import VendorUnavailable
from seeds.fleet import partner_fleet
from tests.factories import active_acumatica


def _down(integration, times=3, message="The vendor answered 503."):
    for _ in range(times):
        health.merchant_integration_record_failure(integration=MerchantIntegration.objects.get(pk=integration.pk),
                                                     error=VendorUnavailable(message))


def test_the_partner_sees_failures_first_and_one_outage_as_one_row(client, personas, acumatica_fake):
    client.force_login(personas.partner_admin)
    healthy = active_acumatica(personas.pharmacies[0], by=None, token="tok-ok")
    for merchant in personas.pharmacies[1:4]:
        _down(active_acumatica(merchant, by=None, token=f"tok-down-{merchant.pk}"))

    page = client.get(reverse("portal:partner", args=[personas.partner.slug])).content.decode()

    incidents = page[page.index('id="incidents"'):page.index("By integration")]
    assert "The vendor answered 503" in incidents and "<strong>3</strong>" in incidents
    rows = page[page.index('id="store-integrations"'):]
    assert rows.index("Farmacia Ponce") < rows.index(healthy.merchant.name)  # paused before active


def test_filters_and_search_narrow_the_list(client, personas, acumatica_fake):
    client.force_login(personas.partner_admin)
    for merchant in personas.pharmacies[:2]:
        active_acumatica(merchant, by=None, token=f"tok-f-{merchant.pk}")
    _down(MerchantIntegration.objects.get(merchant=personas.pharmacies[1]))
    url = reverse("portal:partner", args=[personas.partner.slug])

    paused = client.get(url, {"status": "paused"}).content.decode()
    searched = client.get(url, {"q": "San Juan"}).content.decode()

    rows = paused[paused.index('id="store-integrations"'):]
    assert "Farmacia Ponce" in rows and "Farmacia San Juan" not in rows
    rows = searched[searched.index('id="store-integrations"'):]
    assert "Farmacia San Juan" in rows and "Farmacia Ponce" not in rows


def test_the_page_costs_the_same_queries_for_few_stores_or_many(client, personas):
    client.force_login(personas.partner_admin)
    url = reverse("portal:partner", args=[personas.partner.slug])
    client.get(url)  # a session's first request also asks, once, whether the user sees patient data
    counts = []
    for prefix, stores in (("few", 5), ("many", 60)):
        partner_fleet(personas.partner, stores=stores, days=2, prefix=prefix)
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url)
        counts.append(len(queries))
    assert page.status_code == 200 and "next →" in page.content.decode()  # 65 stores × 3: more than a page
    assert counts[0] == counts[1]


@pytest.mark.security
def test_another_partners_dashboard_answers_404(client, personas):
    other = Partner.objects.create(name="Other Chain", slug="other-chain")
    client.force_login(personas.partner_admin)
    assert client.get(reverse("portal:partner", args=[other.slug])).status_code == 404
    client.force_login(personas.merchant_admin)  # a merchant admin has no partner pages
    assert client.get(reverse("portal:partner", args=[personas.partner.slug])).status_code == 404
