"""Fixtures of the email tests: anymail's test backend, and the Mandrill fake served over real HTTP."""

from __future__ import annotations

import threading

import pytest
from django.core import mail

from simulators import mandrill
from tests.conftest import VendorFake

ANYMAIL_TEST_BACKEND = "anymail.backends.test.EmailBackend"
MANDRILL_BACKEND = "anymail.backends.mandrill.EmailBackend"


@pytest.fixture
def anymail_outbox(settings) -> list:
    """Emails go to anymail's test backend: `mail.outbox`, each with its `anymail_test_params`."""
    settings.EMAIL_BACKEND = ANYMAIL_TEST_BACKEND
    mail.outbox = []
    return mail.outbox


@pytest.fixture(scope="session")
def mandrill_fake():
    server = mandrill.make_server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield VendorFake(url=f"http://127.0.0.1:{server.server_port}", state=server.state)
    server.shutdown()


@pytest.fixture
def mandrill_backend(settings, mandrill_fake) -> VendorFake:
    """The hub sends through anymail's Mandrill backend to the fake, with a key the fake accepts."""
    mandrill_fake.control(reset=True)
    settings.EMAIL_BACKEND = MANDRILL_BACKEND
    settings.ANYMAIL = {**settings.ANYMAIL, "MANDRILL_API_KEY": mandrill.DEFAULT_KEY,
                        "MANDRILL_API_URL": f"{mandrill_fake.url}/api/1.0"}
    return mandrill_fake


def parts(message) -> tuple[str, str]:
    """The plain-text body and the single HTML alternative of a sent email."""
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return message.body, html
