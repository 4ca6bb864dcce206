"""Sign-in throttling counts per account and per address separately: one person's wrong passwords
lock their own account, never everyone else behind the same address (a store behind one NAT)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import reverse

from qiiub.auth import _keys
from seeds import DEMO_PASSWORD

pytestmark = pytest.mark.security

STORE_NAT = "198.51.100.23"  # one public address for a whole store's staff
THROTTLED = "Too many failed sign-in attempts"


@pytest.fixture
def store_nat_forgotten():
    """No counter of the store's address or of the accounts these tests use survives them."""
    usernames = ("sanjuan-admin", "pharmatech-admin", "sysadmin", "ops-second", "nobody-1", "nobody-2")

    def forget():
        cache.delete_many([key for username in usernames for key in _keys(username, STORE_NAT)])

    forget()
    yield
    forget()


@pytest.fixture
def second_operator(db):
    return get_user_model().objects.create_user("ops-second", password=DEMO_PASSWORD, is_staff=True, is_superuser=True)


def _sign_in(client, url: str, username: str, password: str):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=STORE_NAT)


def test_one_users_wrong_passwords_do_not_lock_out_a_colleague_behind_the_same_address(
    client, personas, settings, store_nat_forgotten
):
    # given a cashier who mistypes their password until their account is locked
    for _ in range(settings.LOGIN_MAX_FAILURES):
        _sign_in(client, reverse("login"), "sanjuan-admin", "wrong")
    locked = _sign_in(client, reverse("login"), "sanjuan-admin", DEMO_PASSWORD)
    assert THROTTLED in locked.content.decode() and "_auth_user_id" not in client.session

    # when a colleague signs in from the same store address
    response = _sign_in(client, reverse("login"), "pharmatech-admin", DEMO_PASSWORD)

    # then the colleague is in
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(personas.partner_admin.pk)


def test_one_operators_wrong_passwords_do_not_lock_another_out_of_the_admin(
    client, personas, settings, store_nat_forgotten, second_operator
):
    for _ in range(settings.LOGIN_MAX_FAILURES):
        _sign_in(client, "/admin/login/", "sysadmin", "wrong")
    locked = _sign_in(client, "/admin/login/", "sysadmin", DEMO_PASSWORD)
    assert THROTTLED in locked.content.decode() and "_auth_user_id" not in client.session

    response = _sign_in(client, "/admin/login/", "ops-second", DEMO_PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(second_operator.pk)


def test_the_address_is_locked_only_after_its_own_much_higher_limit(client, personas, settings, store_nat_forgotten):
    # given an address limit above the account limit (kept small here so the test stays short)
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = settings.LOGIN_MAX_FAILURES + 2
    # when failures spread over accounts reach the address limit, no account reaching its own
    for attempt in range(settings.LOGIN_MAX_FAILURES_PER_ADDRESS):
        _sign_in(client, reverse("login"), f"nobody-{attempt % 2 + 1}", "wrong")

    # then every account behind that address is refused, even with the right password
    response = _sign_in(client, reverse("login"), "sanjuan-admin", DEMO_PASSWORD)
    assert THROTTLED in response.content.decode() and "_auth_user_id" not in client.session
    # while the same account from another address signs in
    other = client.post(reverse("login"), {"username": "sanjuan-admin", "password": DEMO_PASSWORD}, REMOTE_ADDR="192.0.2.8")
    assert other.status_code == 302


def test_the_default_address_limit_is_far_above_the_account_limit():
    from django.conf import settings

    assert settings.LOGIN_MAX_FAILURES_PER_ADDRESS >= 10 * settings.LOGIN_MAX_FAILURES
