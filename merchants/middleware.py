"""Each signed-in user's portal language and time zone, and the idle logoff.

The language: after authentication, which LocaleMiddleware runs before, so LocaleMiddleware's
Accept-Language choice is what remains for everyone else. The time zone: on a merchant's pages,
that merchant's, whoever looks (a partner admin reading a store's sync log reads the store's
hours); elsewhere a merchant admin's own merchant's, else PORTAL_TIME_ZONE.

The idle logoff: every portal user is signed out after SESSION_IDLE_TIMEOUT_S without a request, one
who can see patient data (a SystemAdmin, or a merchant admin of a pharmacy) after PHI_IDLE_LOGOFF_S
if shorter (HIPAA automatic logoff, 45 CFR 164.312(a)(2)(iii)). Goes after MessageMiddleware (it
leaves a message for the sign-in page). A page's own background polling (htmx requests with the
BACKGROUND_HEADER, e.g. a bulk job's progress) is checked but does not count as activity.

Cheap: whether the user can see patient data is asked once per session (a membership query) and
kept in it; the last-seen time is written at most every SEEN_RESOLUTION_S, not on every request.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.utils import timezone, translation
from django.utils.translation import ngettext

from merchants.access import may_see_patient_data
from merchants.selectors import merchant_time_zone, user_language

SEES_PHI = "idle.sees_phi"
LAST_SEEN = "idle.last_seen"
SEEN_RESOLUTION_S = 15
# Sent by elements that poll on their own (hx-headers); not a person's activity.
BACKGROUND_HEADER = "HTTP_X_QIIUB_BACKGROUND"


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone = settings.PORTAL_TIME_ZONE
        if user is not None and user.is_authenticated:
            choice = user_language(user)
            request.language_chosen = choice.chosen  # the switcher shows it
            if choice.language:
                translation.activate(choice.language)
                request.LANGUAGE_CODE = choice.language
            zone = choice.time_zone or zone
        _activate_time_zone(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    def process_view(self, request, view_func, view_args, view_kwargs):
        slug = view_kwargs.get("merchant_slug")
        if slug and getattr(request, "user", None) is not None and request.user.is_authenticated:
            _activate_time_zone(merchant_time_zone(slug))


def _activate_time_zone(name: str) -> None:
    if name:  # merchants.models.validate_time_zone keeps a stored zone a real one
        timezone.activate(name)


def _sees_phi(request) -> bool:
    sees = request.session.get(SEES_PHI)
    if sees is None:
        sees = request.session[SEES_PHI] = may_see_patient_data(request.user)
    return sees


def _signed_out_message(idle_limit_s: int, *, for_phi: bool) -> str:
    minutes = max(1, idle_limit_s // 60)
    if for_phi:
        return ngettext(
            "You were signed out after %(minutes)d minute without activity: patient data is protected.",
            "You were signed out after %(minutes)d minutes without activity: patient data is protected.",
            minutes) % {"minutes": minutes}
    return ngettext("You were signed out after %(minutes)d minute without activity.",
                    "You were signed out after %(minutes)d minutes without activity.", minutes) % {"minutes": minutes}


class IdleLogoffMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        idle_limit_s, for_phi = settings.SESSION_IDLE_TIMEOUT_S, False
        if settings.PHI_IDLE_LOGOFF_S < idle_limit_s and _sees_phi(request):
            idle_limit_s, for_phi = settings.PHI_IDLE_LOGOFF_S, True
        now = int(time.time())
        last_seen = request.session.get(LAST_SEEN)
        if last_seen is not None and now - last_seen >= idle_limit_s:
            logout(request)
            messages.info(request, _signed_out_message(idle_limit_s, for_phi=for_phi))
            return redirect_to_login(request.get_full_path())
        if (last_seen is None or now - last_seen >= SEEN_RESOLUTION_S) and BACKGROUND_HEADER not in request.META:
            request.session[LAST_SEEN] = now
        return self.get_response(request)
