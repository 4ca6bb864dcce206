"""The Content-Security-Policy header (qiiub/security.py); tests/browser/test_content_security_policy.py
shows the pages pass it in chromium."""

import pytest
from django.test import Client

pytestmark = pytest.mark.security


def _directives(header: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in header.split(";"))}


def test_every_page_carries_a_policy_of_own_scripts_and_styles_only(db, settings):
    answer = Client().get("/accounts/login/")

    assert _directives(answer.headers["Content-Security-Policy"]) == {
        "default-src": ["'self'"], "script-src": ["'self'"], "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-hashes'", "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"],  # style="" only
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"], "base-uri": ["'self'"], "frame-ancestors": ["'none'"],
        # and the OAuth vendors' consent pages, which a connect form's redirect goes to
        "form-action": ["'self'", *settings.CSP_FORM_ACTION_ORIGINS],
    }
    assert len(settings.CSP_FORM_ACTION_ORIGINS) == 2
    assert "Content-Security-Policy-Report-Only" not in answer.headers


def test_turnstile_once_configured_may_load_its_script_and_its_challenge_frame(db, settings):
    settings.TURNSTILE_SITE_KEY = "1x00000000000000000000AA"
    settings.TURNSTILE_SCRIPT_URL = "https://challenges.cloudflare.com/turnstile/v0/api.js"

    directives = _directives(Client().get("/accounts/login/").headers["Content-Security-Policy"])

    assert directives["script-src"] == ["'self'", "https://challenges.cloudflare.com"]
    assert directives["frame-src"] == ["'self'", "https://challenges.cloudflare.com"]
    assert "'unsafe-inline'" not in str(directives)


def test_report_only_reports_the_same_policy_and_blocks_nothing(db, settings):
    settings.CSP_REPORT_ONLY = True

    answer = Client().get("/accounts/login/")

    assert "Content-Security-Policy" not in answer.headers
    assert answer.headers["Content-Security-Policy-Report-Only"].startswith("default-src 'self'; script-src 'self';")
