"""Each signed-in user's portal language and time zone.

The language: after authentication, which LocaleMiddleware runs before, so LocaleMiddleware's
Accept-Language choice is what remains for everyone else. The time zone: on a merchant's pages,
that merchant's, whoever looks (a partner admin reading a store's sync log reads the store's
hours); elsewhere a merchant admin's own merchant's, else PORTAL_TIME_ZONE.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone, translation

from merchants.selectors import merchant_time_zone, user_language


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
