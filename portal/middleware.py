"""The second factor comes before any page: a signed-in user who owes a code is sent to enter it,
one who must have two factors and has none to set them up (merchants/two_factor.py says which).
Goes after django-otp's OTPMiddleware in MIDDLEWARE."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from devices.openapi import PREFIX as POS_API
from merchants.two_factor import two_factor_step

STEP_PAGES = {"verify": "two-factor-verify", "setup": "two-factor-setup"}
# Reached before the second factor: signing in and out, the two steps, the language, and what
# authenticates otherwise or not at all (probes, static files, terminals' tokens, vendors' webhooks).
OPEN_NAMES = ("login", "logout", "two-factor-verify", "two-factor-setup", "language-set")
OPEN_PREFIXES = ("/static/", "/healthz", "/readyz", f"/{POS_API}", "/hooks/in/")


class TwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.open_paths = None

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or self._is_open(request.path_info):
            return self.get_response(request)
        step = two_factor_step(user)
        if step is None:
            return self.get_response(request)
        target = f"{reverse(STEP_PAGES[step])}?{urlencode({'next': request.get_full_path()})}"
        if request.headers.get("HX-Request"):
            return HttpResponse(status=204, headers={"HX-Redirect": target})
        return redirect(target)

    def _is_open(self, path: str) -> bool:
        if self.open_paths is None:  # URL names resolve once the URLconf is loaded, not at start-up
            self.open_paths = frozenset(reverse(name) for name in OPEN_NAMES)
        return path in self.open_paths or path.startswith(OPEN_PREFIXES)
