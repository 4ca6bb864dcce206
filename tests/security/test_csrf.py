"""CSRF on every form: Django's middleware checks every POST, so the rule is that no browser-facing
view opts out. Only machine endpoints may: the POS API (a terminal's token, no cookie), DRF views
(their session authentication enforces CSRF itself) and the inbound webhook receiver (signed)."""

import pytest
from django.conf import settings
from django.urls import URLResolver, get_resolver

pytestmark = pytest.mark.security

MACHINE_ENDPOINTS = ("api/pos/v1/", "api/v1/", "hooks/in/")


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def test_no_browser_facing_view_is_exempt_from_csrf():
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    exempt = [route for route, view in _routes(get_resolver().url_patterns)
              if getattr(view, "csrf_exempt", False) and not route.startswith(MACHINE_ENDPOINTS)]
    assert exempt == []


def test_the_drf_endpoints_enforce_csrf_through_their_session_authentication():
    from rest_framework.authentication import SessionAuthentication

    from devices.api import ConfigView

    assert settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] == [
        "rest_framework.authentication.SessionAuthentication"]
    assert SessionAuthentication not in ConfigView.authentication_classes  # terminals: token, no cookie
