"""Sign-in fixtures: the Turnstile simulator, and Turnstile switched on against it."""

from __future__ import annotations

import re
import time

import pytest
import requests

from simulators import turnstile
from tests.conftest import VendorFake, _served


@pytest.fixture(scope="session")
def turnstile_fake():
    server, fake = _served(turnstile)
    yield fake
    server.shutdown()


@pytest.fixture
def turnstile_on(settings, turnstile_fake):
    """Turnstile on, with the simulator's keys, its siteverify and a short timeout; the simulator reset."""
    turnstile_fake.control(reset=True)
    settings.TURNSTILE_SITE_KEY = turnstile.DEMO_SITE_KEY
    settings.TURNSTILE_SECRET_KEY = turnstile.DEMO_SECRET_KEY
    settings.TURNSTILE_VERIFY_URL = f"{turnstile_fake.url}/turnstile/v0/siteverify"
    settings.TURNSTILE_SCRIPT_URL = f"{turnstile_fake.url}/turnstile/v0/api.js"
    settings.TURNSTILE_TIMEOUT_S = 1
    yield turnstile_fake
    turnstile_fake.control(reset=True)


def solved_token(fake: VendorFake, *, action: str, hostname: str = "testserver",
                 site_key: str = turnstile.DEMO_SITE_KEY) -> str:
    """A token as the widget gets it from the simulator (what a person's browser would send)."""
    script = requests.get(f"{fake.url}/turnstile/v0/challenge.js", timeout=5,
                          params={"sitekey": site_key, "action": action, "hostname": hostname, "widget": "0"}).text
    return re.search(r'qiiubTurnstileAnswer\(0, "([^"]+)"', script).group(1)


def late_answer_landed(fake: VendorFake, verifications: int = 1) -> None:
    """Waits for a siteverify call the hub gave up on to be answered anyway, so it lands in this test's
    record of the simulator and not in the next test's."""
    deadline = time.monotonic() + 10
    while len(fake.posted()["verifications"]) < verifications and time.monotonic() < deadline:
        time.sleep(0.1)
