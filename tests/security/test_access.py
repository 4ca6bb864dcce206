"""Scope: another merchant's or partner's objects answer 404; sign-in is throttled."""

import pytest
from django.urls import reverse

from integrations.models import Status
from integrations.services import enabling
from tests.factories import definition

pytestmark = pytest.mark.security


@pytest.fixture
def other_merchants_integration(personas):
    return enabling.merchant_integration_enable(
        merchant=personas.pharmacies[1], definition=definition("accounting.xero"), by=None
    )


def test_a_merchant_admin_reaching_another_merchants_integration_by_url_gets_404(client, personas, other_merchants_integration):
    client.force_login(personas.merchant_admin)  # Farmacia San Juan's admin
    ponce = personas.pharmacies[1]
    for name in ("integration",):
        assert client.get(reverse(f"portal:{name}", args=[ponce.slug, other_merchants_integration.pk])).status_code == 404
    # the integration id under the admin's own merchant slug is also 404
    own_slug_url = reverse("portal:integration", args=[personas.san_juan.slug, other_merchants_integration.pk])
    assert client.get(own_slug_url).status_code == 404
    for action in ("configure", "credentials", "test", "activate", "pause", "resume", "disconnect"):
        url = reverse(f"portal:{action}", args=[ponce.slug, other_merchants_integration.pk])
        assert client.post(url, {"company": "x"}).status_code == 404
    assert client.get(reverse("portal:dashboard", args=[ponce.slug])).status_code == 404
    assert client.post(reverse("portal:enable", args=[ponce.slug, "accounting.quickbooks_online"])).status_code == 404
    other_merchants_integration.refresh_from_db()
    assert other_merchants_integration.status == Status.CONFIGURING
    assert not ponce.integrations.filter(definition__code="accounting.quickbooks_online").exists()


def test_a_partner_admin_sees_only_the_partners_merchants(client, personas):
    client.force_login(personas.partner_admin)
    home = client.get(reverse("home")).content.decode()
    assert all(pharmacy.name in home for pharmacy in personas.pharmacies)
    assert personas.colmado.name not in home
    assert client.get(reverse("portal:dashboard", args=[personas.san_juan.slug])).status_code == 200
    assert client.get(reverse("portal:dashboard", args=[personas.colmado.slug])).status_code == 404


def test_a_merchant_admin_lands_on_their_own_dashboard_and_cannot_list_others(client, personas):
    client.force_login(personas.merchant_admin)
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response.url == reverse("portal:dashboard", args=[personas.san_juan.slug])


def test_anonymous_visitors_are_sent_to_sign_in(client, personas):
    response = client.get(reverse("portal:dashboard", args=[personas.san_juan.slug]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_a_merchant_admin_cannot_open_the_django_admin(client, personas):
    client.force_login(personas.merchant_admin)
    response = client.get("/admin/integrations/merchantintegration/")
    assert response.status_code == 302 and "/admin/login/" in response.url


def _failures_forgotten(*usernames: str) -> None:
    # Only these keys: clearing the whole cache would flush the Redis database a `make run` shares.
    from django.core.cache import cache

    from qiiub.auth import _keys

    cache.delete_many([key for username in usernames for key in _keys(username, "127.0.0.1")])


def test_sign_in_is_throttled_after_repeated_failures_even_with_the_right_password(client, personas, settings):
    from seeds import DEMO_PASSWORD

    _failures_forgotten("sanjuan-admin")
    for _ in range(settings.LOGIN_MAX_FAILURES):
        response = client.post(reverse("login"), {"username": "sanjuan-admin", "password": "wrong"})
        assert "Please enter a correct username and password" in response.content.decode()
    response = client.post(reverse("login"), {"username": "sanjuan-admin", "password": DEMO_PASSWORD})
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    _failures_forgotten("sanjuan-admin")
    response = client.post(reverse("login"), {"username": "sanjuan-admin", "password": DEMO_PASSWORD})
    assert response.status_code == 302


def test_the_admin_sign_in_is_throttled_too(client, personas, settings):
    from seeds import DEMO_PASSWORD

    _failures_forgotten("sysadmin")
    for _ in range(settings.LOGIN_MAX_FAILURES):
        client.post("/admin/login/", {"username": "sysadmin", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "sysadmin", "password": DEMO_PASSWORD})
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    _failures_forgotten("sysadmin")


def test_the_tests_failed_sign_ins_never_lock_out_a_portal_sharing_their_redis(client, personas, settings):
    # given a portal on the same Redis with the default cache keys (`make run`'s)
    from django.core.cache.backends.redis import RedisCache

    from qiiub.auth import _keys

    portal_cache = RedisCache(settings.REDIS_URL, {})
    portal_keys = _keys("sanjuan-admin", "127.0.0.1")
    portal_cache.delete_many(portal_keys)
    _failures_forgotten("sanjuan-admin")

    # when the tests fail to sign in until they are throttled
    for _ in range(settings.LOGIN_MAX_FAILURES + 1):
        response = client.post(reverse("login"), {"username": "sanjuan-admin", "password": "wrong"})
    assert "Too many failed sign-in attempts" in response.content.decode()

    # then that portal counted none of it
    assert portal_cache.get_many(portal_keys) == {}
    _failures_forgotten("sanjuan-admin")


def test_behind_a_proxy_the_client_address_is_the_one_the_proxy_appended(rf, settings):
    from qiiub.auth import client_address

    settings.CLIENT_IP_META = "HTTP_X_FORWARDED_FOR"
    request = rf.get("/", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9", REMOTE_ADDR="10.0.0.2")
    assert client_address(request) == "203.0.113.9"


def test_forms_require_csrf(personas):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(personas.retail_admin)
    response = strict.post(reverse("portal:enable", args=[personas.colmado.slug, "accounting.xero"]))
    assert response.status_code == 403
    assert not personas.colmado.integrations.exists()


def test_the_api_answers_404_outside_scope_and_never_includes_the_vault_key(client, personas, other_merchants_integration):
    client.force_login(personas.merchant_admin)
    ponce = personas.pharmacies[1]
    assert client.get(reverse("api-integrations", args=[ponce.slug])).status_code == 404
    response = client.get(reverse("api-integration", args=[ponce.slug, other_merchants_integration.pk]))
    assert response.status_code == 404
    client.force_login(personas.partner_admin)
    body = client.get(reverse("api-integrations", args=[ponce.slug])).json()
    assert [row["code"] for row in body["results"]] == ["accounting.xero"]
    assert "credentials_vault_key" not in body["results"][0]


def test_the_api_refuses_anonymous_callers(client, personas):
    assert client.get(reverse("api-integrations", args=[personas.san_juan.slug])).status_code == 403
