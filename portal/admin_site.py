"""The Django admin's site: the portal's sign-in rules apply to it too. A SystemAdmin passes the
second factor before any admin page (django-otp's OTPAdminSite, where two factors are asked of
the user), and when Turnstile is on, signs in on the portal's page, which carries the widget."""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django_otp.admin import OTPAdminSite

from merchants.two_factor import two_factor_step
from qiiub.auth import ThrottledAdminAuthenticationForm
from qiiub.turnstile import turnstile_enabled


class HubAdminSite(OTPAdminSite):
    login_form = ThrottledAdminAuthenticationForm
    login_template = None  # Django's own: the second factor has its page, after the password

    def has_permission(self, request) -> bool:
        return AdminSite.has_permission(self, request) and two_factor_step(request.user) is None

    def login(self, request, extra_context=None):
        if turnstile_enabled():
            return redirect_to_login(request.GET.get("next") or reverse("admin:index"))
        return super().login(request, extra_context)
