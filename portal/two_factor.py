"""The two-factor pages: the code after the password, setting up an authenticator (a QR code drawn on
the server, no script), the recovery codes shown once, and each user's own status page. The rules
and the writes are in merchants/two_factor.py."""

from __future__ import annotations

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from merchants.access import two_factor_required
from merchants.two_factor import (
    authenticator_confirm,
    authenticator_for,
    authenticator_key_text,
    authenticator_pending,
    recovery_codes_left,
    recovery_codes_replace,
    two_factor_check,
    two_factor_disable,
    two_factor_step,
)
from qiiub.errors import ApplicationError
from qiiub.refusals import post_or_back_to


class CodeForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=40, strip=True)


def _next_url(request) -> str:
    """Where to go once done: the page first asked for, if it is one of ours."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return next_url
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _verified(request, device) -> None:
    request.session.cycle_key()  # a new session id for the session that now holds both factors
    otp_login(request, device)


@never_cache
@login_required
def verify(request):
    """The second step of signing in: the authenticator's code, or a recovery code."""
    if two_factor_step(request.user) != "verify":
        return redirect(_next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = two_factor_check(user=request.user, code=form.cleaned_data["code"])
        except ApplicationError as error:
            form.add_error("code", error.message)
        else:
            _verified(request, device)
            if isinstance(device, StaticDevice):
                left = recovery_codes_left(request.user)
                messages.warning(request, ngettext(
                    "You signed in with a recovery code: %(count)d is left. Create new ones on your two-factor page.",
                    "You signed in with a recovery code: %(count)d are left. Create new ones on your two-factor page.",
                    left) % {"count": left})
            return redirect(_next_url(request))
    return render(request, "registration/two_factor_verify.html", {"form": form, "next": _next_url(request)},
                  status=422 if form.errors else 200)


@never_cache
@login_required
def setup(request):
    """Set up an authenticator: scan the QR code (or type the key), confirm with a first code; the
    recovery codes are then shown, once."""
    if authenticator_for(request.user) is not None:
        return redirect("two-factor")
    device = authenticator_pending(user=request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = authenticator_confirm(user=request.user, code=form.cleaned_data["code"])
        except ApplicationError as error:
            form.add_error("code", error.message)
        else:
            _verified(request, device)
            return render(request, "registration/two_factor_recovery_codes.html",
                          {"codes": codes, "next": _next_url(request)})
    return render(request, "registration/two_factor_setup.html", {
        "form": form, "next": _next_url(request), "required": two_factor_required(request.user),
        "key": authenticator_key_text(device),
        # segno draws paths only: nothing of the user's text is in the markup.
        "qr_svg": mark_safe(segno.make(device.config_url, error="m").svg_inline(scale=4)),  # noqa: S308
    }, status=422 if form.errors else 200)


@never_cache
@login_required
def status(request):
    """The user's own page: whether two-factor sign-in is on, recovery codes left, turn it off."""
    return render(request, "registration/two_factor_status.html", {
        "authenticator": authenticator_for(request.user), "codes_left": recovery_codes_left(request.user),
        "required": two_factor_required(request.user), "form": CodeForm(),
    })


@never_cache
@login_required
@post_or_back_to(lambda request: resolve_url("two-factor"))
def recovery_codes(request):
    if authenticator_for(request.user) is None:
        return redirect("two-factor")
    return render(request, "registration/two_factor_recovery_codes.html",
                  {"codes": recovery_codes_replace(user=request.user), "next": resolve_url("two-factor")})


@login_required
@post_or_back_to(lambda request: resolve_url("two-factor"))
def disable(request):
    form = CodeForm(request.POST)
    try:
        two_factor_disable(user=request.user, code=form.data.get("code", ""))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Two-factor sign-in is off."))
    return redirect("two-factor")
