"""Pooled connections and tenant schemas: a connection handed back to the pool by one merchant's
request and taken by another's never reads in the first one's schema.

django-tenants caches the search_path it set on a connection (TENANT_LIMIT_SET_CALLS) and forgets it
when Django closes the connection, which with the pool means handing it back; so the next request
sets its own schema before its first query. Shown here through a real portal process whose pool
holds ONE connection, so every request reuses the same PostgreSQL backend, alternating merchants."""

import re
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests
from django.db import connection
from django_tenants.utils import schema_context

from merchants.store.models import Sale, Tender
from seeds import DEMO_PASSWORD
from tests.conftest import serve_portal
from tests.factories import sell

pytestmark = [pytest.mark.security, pytest.mark.slow]

SAN_JUAN = ZoneInfo("America/Puerto_Rico")


@pytest.fixture
def pooled_portal(process_env):
    application_name = f"qiiub-pool-test-{uuid.uuid4().hex[:8]}"
    for url in serve_portal(process_env, DB_POOL_MAX="1", DB_POOL_MIN="1", DB_APPLICATION_NAME=application_name,
                            LOGIN_MAX_FAILURES="50"):
        yield url, application_name


@pytest.fixture
def a_sale_in_each_of_two_merchants(committed):
    """The same sale number in two merchants' schemas, each with its own amount."""
    merchants = (committed.san_juan, committed.colmado)
    sales = {}
    for merchant, amount in zip(merchants, ("13.37", "42.24"), strict=True):
        client_uuid, _ = sell(merchant, at=datetime(2026, 12, 1, 10, tzinfo=SAN_JUAN), lines=(("standard", amount),),
                              state="0.00", municipal="0.00")
        with schema_context(merchant.schema_name):
            sales[merchant.slug] = (Sale.objects.get(client_uuid=client_uuid).pk, f"${amount}")
    yield sales
    for merchant in merchants:
        with schema_context(merchant.schema_name):
            Tender.objects.all().delete()
            Sale.objects.all().delete()


def _signed_in(url: str, username: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{url}/accounts/login/", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    answer = session.post(f"{url}/accounts/login/", data={"csrfmiddlewaretoken": token, "username": username,
                                                          "password": DEMO_PASSWORD}, timeout=10)
    assert "Sign out" in answer.text
    return session


def test_requests_alternating_two_merchants_over_one_pooled_connection_each_read_their_own_rows(
        pooled_portal, a_sale_in_each_of_two_merchants):
    url, application_name = pooled_portal
    sysadmin = _signed_in(url, "sysadmin")

    pages = []
    for _ in range(4):
        for slug, (sale_pk, amount) in a_sale_in_each_of_two_merchants.items():
            page = sysadmin.get(f"{url}/portal/m/{slug}/money/sales/{sale_pk}/", timeout=10)
            pages.append((slug, page.status_code, amount in page.text,
                          any(other in page.text for other_slug, (_, other) in a_sale_in_each_of_two_merchants.items()
                              if other_slug != slug)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        backends = cursor.fetchone()[0]

    assert backends == 1  # every request above went through the same PostgreSQL connection
    assert all(status == 200 and own and not other for _, status, own, other in pages), pages
