"""Turnstile on the portal's sign-in, against the local simulator of Cloudflare's siteverify: a good
token signs in; a missing, refused, late or failed check each says so, signs no one in, counts
towards no lock and leaks neither the token nor the secret."""

import logging

import pytest
from django.core.cache import cache
from django.urls import reverse

from qiiub.auth import _keys
from seeds import DEMO_PASSWORD
from simulators.turnstile import DEMO_SECRET_KEY, DEMO_SITE_KEY
from tests.signin.conftest import late_answer_landed, solved_token

pytestmark = pytest.mark.security

ADDRESS = "203.0.113.77"
MISSING = "Complete the bot check"
REFUSED = "The bot check failed or expired"
UNAVAILABLE = "We could not verify the bot check just now"


@pytest.fixture(autouse=True)
def _counters_forgotten():
    cache.delete_many(_keys("sanjuan-admin", ADDRESS))
    yield
    cache.delete_many(_keys("sanjuan-admin", ADDRESS))


def _sign_in(client, token: str | None = None, password: str = DEMO_PASSWORD):
    form = {"username": "sanjuan-admin", "password": password}
    if token is not None:
        form["cf-turnstile-response"] = token
    return client.post(reverse("login"), form, REMOTE_ADDR=ADDRESS)


def test_the_sign_in_page_shows_the_widget_only_when_turnstile_is_configured(client, db, settings, turnstile_on):
    page = client.get(reverse("login")).content.decode()
    assert f'class="cf-turnstile" data-sitekey="{DEMO_SITE_KEY}" data-action="login"' in page
    assert f'<script src="{turnstile_on.url}/turnstile/v0/api.js" async defer></script>' in page
    assert DEMO_SECRET_KEY not in page

    settings.TURNSTILE_SECRET_KEY = ""
    assert "cf-turnstile" not in client.get(reverse("login")).content.decode()


def test_a_solved_check_and_the_right_password_sign_in(client, personas, turnstile_on):
    response = _sign_in(client, solved_token(turnstile_on, action="login"))

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(personas.merchant_admin.pk)
    verification = turnstile_on.posted()["verifications"][-1]
    assert verification["success"] and verification["remoteip"] == ADDRESS and verification["action"] == "login"


@pytest.mark.parametrize(("token", "message"), [
    (None, MISSING),
    ("   ", MISSING),
    ("0.not-a-token-the-simulator-issued", REFUSED),
    ("x" * 3000, REFUSED),
])
def test_a_missing_or_made_up_token_is_refused_with_its_message_and_signs_no_one_in(
    client, personas, turnstile_on, token, message
):
    response = _sign_in(client, token)

    assert response.status_code == 200 and message in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_token_is_good_once(client, personas, turnstile_on):
    token = solved_token(turnstile_on, action="login")
    assert _sign_in(client, token).status_code == 302
    client.logout()

    again = _sign_in(client, token)

    assert REFUSED in again.content.decode() and "_auth_user_id" not in client.session
    assert turnstile_on.posted()["verifications"][-1]["error_codes"] == ["timeout-or-duplicate"]


def test_a_token_solved_for_terminal_enrollment_or_another_site_does_not_sign_in(client, personas, turnstile_on):
    for token in (solved_token(turnstile_on, action="enroll"),
                  solved_token(turnstile_on, action="login", hostname="phishing.example")):
        response = _sign_in(client, token)
        assert REFUSED in response.content.decode() and "_auth_user_id" not in client.session


@pytest.mark.fault
def test_a_siteverify_that_does_not_answer_in_time_fails_closed(client, personas, turnstile_on):
    turnstile_on.control(delay_s=2)  # the hub waits TURNSTILE_TIMEOUT_S (1 s)

    response = _sign_in(client, solved_token(turnstile_on, action="login"))

    assert UNAVAILABLE in response.content.decode() and "_auth_user_id" not in client.session
    late_answer_landed(turnstile_on)


@pytest.mark.fault
def test_a_siteverify_error_or_a_wrong_secret_fails_closed(client, personas, settings, turnstile_on):
    turnstile_on.control(fail={"status": 503})
    assert UNAVAILABLE in _sign_in(client, solved_token(turnstile_on, action="login")).content.decode()

    settings.TURNSTILE_SECRET_KEY = "0x4AAAAAAAwrong-secret"
    assert UNAVAILABLE in _sign_in(client, solved_token(turnstile_on, action="login")).content.decode()
    assert "_auth_user_id" not in client.session


def test_failed_checks_do_not_count_towards_the_sign_in_lock(client, personas, settings, turnstile_on):
    # given more refused checks (with the right password) than the lock allows failures
    for _ in range(settings.LOGIN_MAX_FAILURES + 2):
        _sign_in(client, "0.made-up")

    # then no counter moved, and a solved check with the password still signs in
    assert cache.get_many(_keys("sanjuan-admin", ADDRESS)) == {}
    assert _sign_in(client, solved_token(turnstile_on, action="login")).status_code == 302


def test_a_wrong_password_with_a_solved_check_still_counts(client, personas, turnstile_on):
    response = _sign_in(client, solved_token(turnstile_on, action="login"), password="wrong")

    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert list(cache.get_many(_keys("sanjuan-admin", ADDRESS)).values()) == [1, 1]


def test_neither_the_token_nor_the_secret_reaches_the_page_or_the_log(client, personas, turnstile_on, caplog):
    token = solved_token(turnstile_on, action="login")
    with caplog.at_level(logging.DEBUG):
        _sign_in(client, token, password="wrong")
        refused = _sign_in(client, token)

    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    for secret in (token, DEMO_SECRET_KEY):
        assert secret not in refused.content.decode() and secret not in logged
    assert "turnstile.refused" in logged


def test_with_turnstile_off_no_check_is_asked(client, personas, settings, turnstile_fake):
    settings.TURNSTILE_SITE_KEY = settings.TURNSTILE_SECRET_KEY = ""
    turnstile_fake.control(reset=True)

    assert _sign_in(client).status_code == 302
    assert turnstile_fake.posted()["verifications"] == []
