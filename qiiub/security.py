"""The Content-Security-Policy every page is sent with (ADR 0046).

Only the hub's own scripts and styles run: no inline script, event handler or style attribute, so an
injected one does nothing. When Turnstile is configured (TURNSTILE_SITE_KEY), its script's origin is
allowed to load the script and its challenge frame. The policy is built once per process from
settings; `CSP_REPORT_ONLY` sends it as Report-Only, to try a change without breaking a page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"
TURNSTILE_SCRIPT_URL = "https://challenges.cloudflare.com/turnstile/v0/api.js"

EMPTY_STYLE_HASH = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"  # sha256 of ""

BASE_DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    # An empty style attribute, and only that: chromium's inputs carry style="" by the time htmx parses
    # or settles a swapped form (seen on every input, hidden ones included), which is refused otherwise.
    "style-src-attr": ["'unsafe-hashes'", EMPTY_STYLE_HASH],
    "img-src": ["'self'", "data:"],  # data: the favicon placeholder and the signature images
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
# Django's debug pages (DEBUG only) are inline-styled and scripted; the policy would blank them.
DEBUG_PAGE_STATUSES = {404, 500}


def content_security_policy() -> str:
    directives = {name: list(sources) for name, sources in BASE_DIRECTIVES.items()}
    directives["form-action"] += getattr(settings, "CSP_FORM_ACTION_ORIGINS", [])
    if getattr(settings, "TURNSTILE_SITE_KEY", ""):
        script_url = urlsplit(getattr(settings, "TURNSTILE_SCRIPT_URL", "") or TURNSTILE_SCRIPT_URL)
        origin = f"{script_url.scheme}://{script_url.netloc}"
        directives["script-src"].append(origin)
        directives["frame-src"] = ["'self'", origin]
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.header = REPORT_ONLY_HEADER if settings.CSP_REPORT_ONLY else HEADER
        self.policy = content_security_policy()

    def __call__(self, request):
        response = self.get_response(request)
        if not (settings.DEBUG and response.status_code in DEBUG_PAGE_STATUSES):
            response.setdefault(self.header, self.policy)
        return response
