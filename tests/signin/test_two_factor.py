"""Two-factor sign-in through the portal's own pages: who must have it, the code after the password,
recovery codes that work once, throttled wrong codes, the admin, and a SystemAdmin's reset."""

import logging
import time
from base64 import b32encode

import pytest
from django.contrib.admin.models import LogEntry
from django.core.cache import cache
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from merchants.two_factor import authenticator_confirm, authenticator_pending
from qiiub.auth import _keys
from seeds import DEMO_PASSWORD

pytestmark = pytest.mark.security

WRONG = "That code is not right"
THROTTLED = "Too many wrong codes"


def code_of(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """What the authenticator app shows now (or `steps_ahead` 30 s steps later: a code is good once,
    so a second sign-in within the same step takes the next one, which the hub's tolerance allows)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def enrolled(user) -> tuple[TOTPDevice, list[str]]:
    pending = authenticator_pending(user=user)
    return authenticator_confirm(user=user, code=code_of(pending))


@pytest.fixture(autouse=True)
def _sign_in_counters_forgotten():
    names = ("sysadmin", "pharmatech-admin", "sanjuan-admin", "colmado-admin")
    cache.delete_many([key for name in names for key in _keys(name, "127.0.0.1")])


@pytest.fixture
def required(settings):
    settings.TWO_FACTOR_REQUIRED = True


def _password(client, username: str):
    response = client.post(reverse("login"), {"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, "the password step passes"
    return client.get(response.url)


def _asked_for_second_factor(client) -> bool:
    response = client.get("/portal/")
    return response.status_code == 302 and response.url.startswith("/accounts/two-factor/")


def _verify(client, code: str):
    return client.post(reverse("two-factor-verify"), {"code": code, "next": "/portal/"})


@pytest.mark.parametrize(("persona", "must"), [
    ("sysadmin", True), ("partner_admin", True),
    ("merchant_admin", True),  # Farmacia San Juan's admin sees patient data
    ("retail_admin", False),  # Colmado Rivera's does not: optional
])
def test_who_must_set_up_two_factor_before_any_page(client, personas, required, persona, must):
    client.force_login(getattr(personas, persona))

    response = client.get("/portal/")

    sent_to_setup = response.status_code == 302 and response.url.startswith(reverse("two-factor-setup"))
    assert sent_to_setup is must
    if must:
        assert response.url.endswith("?next=%2Fportal%2F")
        assert client.get(reverse("admin:index")).url.startswith(reverse("two-factor-setup"))


def test_with_enforcement_off_nobody_is_made_to_set_it_up(client, personas, settings):
    settings.TWO_FACTOR_REQUIRED = False
    client.force_login(personas.sysadmin)

    assert client.get(reverse("admin:index")).status_code == 200


def test_setting_up_shows_a_qr_code_and_the_key_then_ten_recovery_codes_once(client, personas, required):
    client.force_login(personas.partner_admin)

    page = client.get(reverse("two-factor-setup"))

    assert page.status_code == 200 and page.headers["Cache-Control"].startswith("max-age=0")
    html = page.content.decode()
    assert '<svg width="' in html and "<script" not in html.split("<main>")[1]
    device = TOTPDevice.objects.get(user=personas.partner_admin, confirmed=False)
    assert "".join(html.split('id="two-factor-key">')[1].split("<")[0].split()) == b32encode(device.bin_key).decode()

    wrong = client.post(reverse("two-factor-setup"), {"code": "000000", "next": "/portal/"})
    assert wrong.status_code == 422 and WRONG in wrong.content.decode()
    assert client.get("/portal/").url.startswith(reverse("two-factor-setup"))

    time.sleep(1)  # django-otp's throttle: one second after a wrong code
    done = client.post(reverse("two-factor-setup"), {"code": code_of(device), "next": "/portal/"})
    codes = done.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10 and all(code in done.content.decode() for code in codes)
    assert not _asked_for_second_factor(client)
    assert StaticToken.objects.filter(device__user=personas.partner_admin).count() == 10


def test_after_the_password_a_user_with_an_authenticator_is_asked_for_the_code(client, personas, settings):
    settings.TWO_FACTOR_REQUIRED = False  # asked of whoever set it up, required or not
    device, _ = enrolled(personas.retail_admin)

    asked = _password(client, "colmado-admin")
    assert asked.status_code == 302 and asked.url.startswith(reverse("two-factor-verify"))

    wrong = _verify(client, "123456" if code_of(device) != "123456" else "654321")
    assert wrong.status_code == 422 and WRONG in wrong.content.decode()
    assert _asked_for_second_factor(client), "a wrong code does not sign in"

    time.sleep(1)
    right = _verify(client, code_of(device, steps_ahead=1))
    assert right.status_code == 302 and right.url == "/portal/"
    assert not _asked_for_second_factor(client)


def test_wrong_codes_are_throttled_and_a_right_one_waits_too(client, personas, required):
    device, _ = enrolled(personas.sysadmin)
    _password(client, "sysadmin")

    _verify(client, "000001")
    throttled = _verify(client, code_of(device, steps_ahead=1))

    assert throttled.status_code == 422 and THROTTLED in throttled.content.decode()
    assert client.get(reverse("admin:index")).url.startswith(reverse("two-factor-verify"))
    assert TOTPDevice.objects.get(pk=device.pk).throttling_failure_count == 1


def test_a_recovery_code_signs_in_once(client, personas, required):
    _, codes = enrolled(personas.merchant_admin)
    _password(client, "sanjuan-admin")

    used = _verify(client, codes[0].upper())
    assert used.status_code == 302
    assert "9 are left" in client.get(used.url, follow=True).content.decode()

    client.logout()
    _password(client, "sanjuan-admin")
    again = _verify(client, codes[0])
    assert again.status_code == 422 and WRONG in again.content.decode()


def test_the_admin_needs_a_verified_session(client, personas, required):
    device, _ = enrolled(personas.sysadmin)
    _password(client, "sysadmin")

    assert client.get(reverse("admin:index")).url.startswith(reverse("two-factor-verify"))
    _verify(client, code_of(device, steps_ahead=1))

    assert client.get(reverse("admin:index")).status_code == 200


def test_new_recovery_codes_replace_the_old_ones(client, personas, settings):
    settings.TWO_FACTOR_REQUIRED = False
    device, old = enrolled(personas.retail_admin)
    _password(client, "colmado-admin")
    _verify(client, code_of(device, steps_ahead=1))

    new = client.post(reverse("two-factor-recovery-codes")).context["codes"]

    assert set(new).isdisjoint(old)
    assert set(StaticToken.objects.filter(device__user=personas.retail_admin).values_list("token", flat=True)) == {
        code.replace("-", "") for code in new}


def test_who_may_turn_it_off_does_so_with_a_code_and_who_must_have_it_cannot(client, personas, required):
    device, codes = enrolled(personas.retail_admin)
    _password(client, "colmado-admin")
    _verify(client, code_of(device, steps_ahead=1))
    assert "Off:" not in client.get(reverse("two-factor")).content.decode()

    client.post(reverse("two-factor-disable"), {"code": "000000"})
    assert TOTPDevice.objects.filter(user=personas.retail_admin).exists()
    client.post(reverse("two-factor-disable"), {"code": codes[0]})  # a recovery code is a code too
    assert not TOTPDevice.objects.filter(user=personas.retail_admin).exists()
    assert "Off:" in client.get(reverse("two-factor")).content.decode()

    partner_device, partner_codes = enrolled(personas.partner_admin)
    client.force_login(personas.partner_admin)
    _verify(client, code_of(partner_device, steps_ahead=1))
    refused = client.post(reverse("two-factor-disable"), {"code": partner_codes[0]}, follow=True)
    assert "cannot be turned off" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=personas.partner_admin).exists()


def test_a_systemadmin_resets_a_users_two_factor_and_the_admin_history_says_so(client, personas, settings):
    settings.TWO_FACTOR_REQUIRED = False
    enrolled(personas.partner_admin)
    client.force_login(personas.sysadmin)

    client.post(reverse("admin:auth_user_changelist"),
                {"action": "two_factor_reset_action", "_selected_action": [personas.partner_admin.pk]})

    assert not TOTPDevice.objects.filter(user=personas.partner_admin).exists()
    assert not StaticToken.objects.filter(device__user=personas.partner_admin).exists()
    entry = LogEntry.objects.get(user=personas.sysadmin, object_id=str(personas.partner_admin.pk))
    assert "two-factor" in entry.get_change_message()


def test_keys_and_codes_never_reach_the_log(client, personas, required, caplog):
    with caplog.at_level(logging.DEBUG):
        device, codes = enrolled(personas.sysadmin)
        _password(client, "sysadmin")
        _verify(client, codes[1])

    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert device.key not in logged and codes[1] not in logged and codes[1].replace("-", "") not in logged
    assert "two_factor.verified" in logged
