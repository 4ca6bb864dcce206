"""Sign-in throttling, for the portal and the Django admin alike. Failures are counted per
account and, separately, per client address: too many for an account lock that account; the
address limit is much higher, so one person's mistakes never lock out everyone else behind the
same address (a store behind one NAT). A locked key stays locked for the window, whether or not
the password is then right. When Turnstile is on, its bot check comes first (qiiub/turnstile.py)."""

from __future__ import annotations

import hashlib

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http.request import split_domain_port
from django.utils.translation import gettext_lazy as _

from qiiub.card_redaction import CardDataNotEchoedForm
from qiiub.errors import ApplicationError
from qiiub.turnstile import RESPONSE_FIELD, turnstile_verify, turnstile_widget


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or behind a trusted proxy the right-most entry of the
    header it sets (`CLIENT_IP_META`, e.g. HTTP_X_FORWARDED_FOR), which the client cannot forge."""
    if request is None:
        return ""
    value = request.META.get(settings.CLIENT_IP_META, "") or request.META.get("REMOTE_ADDR", "")
    return value.split(",")[-1].strip()


def _account_key(username: str) -> str:
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login-failures:user:{digest}"


def _address_key(address: str) -> str:
    return f"login-failures:addr:{address}"


def _limits(username: str, address: str) -> dict[str, int]:
    """Each failure counter of this sign-in with the number of failures that locks it."""
    return {
        _account_key(username): settings.LOGIN_MAX_FAILURES,
        _address_key(address): settings.LOGIN_MAX_FAILURES_PER_ADDRESS,
    }


def _keys(username: str, address: str) -> list[str]:
    return list(_limits(username, address))


class ThrottledLoginMixin:
    throttled_message = _("Too many failed sign-in attempts. Wait %(minutes)d minutes and try again.")

    def clean(self):
        limits = _limits(self.cleaned_data.get("username") or "", client_address(self.request))
        counts = cache.get_many(list(limits))
        if any(counts.get(key, 0) >= limit for key, limit in limits.items()):
            raise forms.ValidationError(
                self.throttled_message,
                code="throttled",
                params={"minutes": max(1, settings.LOGIN_FAILURE_WINDOW_S // 60)},
            )
        self._bot_check()
        try:
            return super().clean()
        except forms.ValidationError:
            for key in limits:
                cache.add(key, 0, settings.LOGIN_FAILURE_WINDOW_S)
                cache.incr(key)
            raise

    def _bot_check(self) -> None:
        """Turnstile, before the password is tried: a refused check is not a failed sign-in (it counts
        towards no lock) and says nothing about the password."""
        try:
            turnstile_verify(self.data.get(RESPONSE_FIELD), remote_ip=client_address(self.request), action="login",
                             hostname=split_domain_port(self.request.get_host())[0] if self.request else None)
        except ApplicationError as error:
            raise forms.ValidationError(error.message, code=error.code) from None


# A failed sign-in shows the username again: never when it holds card data.
class ThrottledAuthenticationForm(CardDataNotEchoedForm, ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(CardDataNotEchoedForm, ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class PortalLoginView(LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "turnstile": turnstile_widget()}
