"""The pharmacy's middleware: the ready list's early 304, and the automatic logoff.

Automatic logoff (HIPAA, 45 CFR 164.312(a)(2)(iii)): a portal user who can see patient data
(a SystemAdmin, or a merchant admin of a pharmacy) is signed out after PHI_IDLE_LOGOFF_S without a
request. Goes after MessageMiddleware in MIDDLEWARE (it leaves a message for the sign-in page).

Cheap: whether the user can see patient data is asked once per session (a membership query) and
kept in it; the last-seen time is written at most every SEEN_RESOLUTION_S, not on every request.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django.utils.translation import ngettext

from merchants.access import may_see_patient_data
from pharmacy.api import ready_list_not_modified

SEES_PHI = "pharmacy.sees_phi"
LAST_SEEN = "pharmacy.last_seen"
SEEN_RESOLUTION_S = 15


def _sees_phi(request) -> bool:
    sees = request.session.get(SEES_PHI)
    if sees is None:
        sees = request.session[SEES_PHI] = may_see_patient_data(request.user)
    return sees


class PhiIdleLogoffMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not _sees_phi(request):
            return self.get_response(request)
        now = int(time.time())
        last_seen = request.session.get(LAST_SEEN)
        if last_seen is not None and now - last_seen >= settings.PHI_IDLE_LOGOFF_S:
            logout(request)
            minutes = max(1, settings.PHI_IDLE_LOGOFF_S // 60)
            messages.info(request, ngettext(
                "You were signed out after %(minutes)d minute without activity: patient data is protected.",
                "You were signed out after %(minutes)d minutes without activity: patient data is protected.",
                minutes) % {"minutes": minutes})
            return redirect_to_login(request.get_full_path())
        if last_seen is None or now - last_seen >= SEEN_RESOLUTION_S:
            request.session[LAST_SEEN] = now
        return self.get_response(request)


class NotModifiedReadyListMiddleware:
    """Answers an unchanged ready list before the rest of the stack, as the POS config's does: a
    store's registers pull it every 15 s, and nearly every pull is a 304."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.path = reverse("pharmacy_pos:ready_list")

    def __call__(self, request):
        if request.path_info == self.path and (not_modified := ready_list_not_modified(request)) is not None:
            return not_modified
        return self.get_response(request)
