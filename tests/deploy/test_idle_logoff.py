"""The idle logoff of every portal user: a page's own background polling is no activity."""

import time
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse

import merchants.middleware

pytestmark = pytest.mark.security


def _clock_at(monkeypatch, moment: float) -> None:
    monkeypatch.setattr(merchants.middleware, "time", SimpleNamespace(time=lambda: moment))


def _signed_in_at_home(personas, monkeypatch) -> tuple[Client, float, str]:
    """A partner admin who just opened the portal's home; the clock stands at `start` until moved."""
    start = time.time()
    _clock_at(monkeypatch, start)
    client = Client()
    client.force_login(personas.partner_admin)
    home = reverse("portal:home")
    assert client.get(home).status_code == 200
    return client, start, home


def test_background_polling_does_not_keep_an_idle_session_alive(personas, settings, monkeypatch):
    settings.SESSION_IDLE_TIMEOUT_S = 1800
    client, start, home = _signed_in_at_home(personas, monkeypatch)

    _clock_at(monkeypatch, start + 1700)
    assert client.get(home, headers={"X-Qiiub-Background": "poll"}).status_code == 200  # in time, not activity
    _clock_at(monkeypatch, start + 1800)
    answer = client.get(home, headers={"X-Qiiub-Background": "poll"})

    assert answer.status_code == 302 and "_auth_user_id" not in client.session
    assert "You were signed out after 30 minutes without activity." in client.get(answer.url).content.decode()


def test_a_request_of_the_person_keeps_the_session_alive(personas, settings, monkeypatch):
    settings.SESSION_IDLE_TIMEOUT_S = 1800
    client, start, home = _signed_in_at_home(personas, monkeypatch)

    _clock_at(monkeypatch, start + 1700)
    assert client.get(home).status_code == 200
    _clock_at(monkeypatch, start + 1700 + 1700)

    assert client.get(home).status_code == 200
