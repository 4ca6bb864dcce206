"""Sign-in throttling, for the portal and the Django admin alike: too many failures per
username or per client address lock sign-in for that key for a while, whether or not the
password is then right."""

from __future__ import annotations

import hashlib

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from qiiub.card_redaction import CardDataNotEchoedForm


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind a trusted proxy the right-most entry of the
    header it sets (`CLIENT_IP_META`, e.g. HTTP_X_FORWARDED_FOR), which the client cannot forge."""
    if request is None:
        return ""
    value = request.META.get(settings.CLIENT_IP_META, "") or request.META.get("REMOTE_ADDR", "")
    return value.split(",")[-1].strip()


def _keys(username: str, address: str) -> list[str]:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-failures:user:{digest}", f"login-failures:addr:{address}"]


class ThrottledLoginMixin:
    throttled_message = _("Too many failed sign-in attempts. Wait %(minutes)d minutes and try again.")

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        keys = _keys(username, client_address(self.request))
        if any((cache.get(key) or 0) >= settings.LOGIN_MAX_FAILURES for key in keys):
            raise forms.ValidationError(
                self.throttled_message,
                code="throttled",
                params={"minutes": max(1, settings.LOGIN_FAILURE_WINDOW_S // 60)},
            )
        try:
            return super().clean()
        except forms.ValidationError:
            for key in keys:
                cache.add(key, 0, settings.LOGIN_FAILURE_WINDOW_S)
                cache.incr(key)
            raise


# A failed sign-in shows the username again: never when it holds card data.
class ThrottledAuthenticationForm(CardDataNotEchoedForm, ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(CardDataNotEchoedForm, ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class PortalLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True
