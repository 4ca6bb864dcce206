"""Signing in, in Debian chromium against a real portal process: Turnstile's widget (the local
simulator's script) solving the check, then setting up an authenticator from the key on the page,
and a later sign-in with its code. Screenshots of the setup and code pages go to docs/screenshots/."""

from __future__ import annotations

import os
import re
import tempfile
from base64 import b32decode
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import TOTP

from merchants.models import Membership, Role
from seeds import DEMO_PASSWORD
from simulators import turnstile
from tests.conftest import _served, serve_portal

pytestmark = [pytest.mark.browser, pytest.mark.security]

SCREENSHOTS = Path(os.environ.get("QIIUB_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="qiiub-screenshots-"))
USERNAME = "two-factor-partner"


@pytest.fixture(scope="module")
def turnstile_fake():
    server, fake = _served(turnstile)
    yield fake
    server.shutdown()


@pytest.fixture(scope="module")
def guarded_portal(process_env, turnstile_fake):
    """The portal with Turnstile on (the simulator's keys) and two-factor sign-in required."""
    yield from serve_portal(process_env, TURNSTILE_BASE_URL=turnstile_fake.url,
                            TURNSTILE_SITE_KEY=turnstile.DEMO_SITE_KEY, TURNSTILE_SECRET_KEY=turnstile.DEMO_SECRET_KEY,
                            TWO_FACTOR_REQUIRED="1", LOGIN_MAX_FAILURES="50")


@pytest.fixture
def partner_admin(committed):
    """A partner admin of PharmaTech of this test's own, removed with their devices afterwards."""
    user = get_user_model().objects.create_user(USERNAME, password=DEMO_PASSWORD)
    Membership.objects.create(user=user, role=Role.PARTNER_ADMIN, partner=committed.partner)
    yield user
    user.delete()


def _code(key_text: str, *, steps_ahead: int = 0) -> str:
    import time

    totp = TOTP(b32decode(key_text.replace(" ", "")))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def _sign_in(page, portal: str) -> None:
    page.goto(f"{portal}/accounts/login/")
    page.wait_for_selector(".cf-turnstile[data-state=solved]")
    page.fill("input[name=username]", USERNAME)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_load_state("networkidle")


def test_sign_in_with_turnstile_then_set_up_and_use_an_authenticator(page, guarded_portal, turnstile_fake,
                                                                     partner_admin):
    # given the sign-in page, whose Turnstile widget the simulator's script solves
    _sign_in(page, guarded_portal)

    # then a partner admin without an authenticator is sent to set one up, shown a QR code and the key
    assert "/accounts/two-factor/setup/" in page.url
    assert page.locator(".qr svg").count() == 1
    key = page.inner_text("#two-factor-key")
    page.screenshot(path=str(SCREENSHOTS / "two-factor-setup.png"), full_page=True)

    # when they confirm with the app's code
    page.fill("#two-factor-code", _code(key))
    page.click("button:has-text('Turn on')")

    # then ten recovery codes are shown once, and the portal opens
    codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}", code) for code in codes)
    page.screenshot(path=str(SCREENSHOTS / "two-factor-recovery-codes.png"), full_page=True)
    page.click("text=I have saved them")
    page.wait_for_load_state("networkidle")
    assert "/portal/" in page.url and "two-factor" not in page.url

    # when they sign out and in again, a code is asked after the password
    page.click("button:has-text('Sign out')")
    page.wait_for_load_state("networkidle")
    _sign_in(page, guarded_portal)
    assert "/accounts/two-factor/verify/" in page.url
    page.fill("#two-factor-code", "000000" if _code(key, steps_ahead=1) != "000000" else "111111")
    page.click("button:has-text('Verify')")
    page.wait_for_selector("[role=alert]")
    assert "That code is not right" in page.inner_text(".two-factor")
    page.screenshot(path=str(SCREENSHOTS / "two-factor-code.png"), full_page=True)

    page.wait_for_timeout(1100)  # django-otp's throttle after one wrong code
    page.fill("#two-factor-code", _code(key, steps_ahead=1))
    page.click("button:has-text('Verify')")
    page.wait_for_load_state("networkidle")

    # then the portal opens, every bot check passed through siteverify, and nothing failed in the page
    assert "/portal/" in page.url and "two-factor" not in page.url
    assert page.is_visible(f"a.who:has-text('{USERNAME}')")
    verifications = turnstile_fake.posted()["verifications"]
    assert len(verifications) == 2 and all(item["success"] and item["action"] == "login" for item in verifications)
    assert page.js_errors == []
