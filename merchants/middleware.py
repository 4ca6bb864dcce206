"""Activates each signed-in user's portal language (after authentication, which LocaleMiddleware
runs before, so LocaleMiddleware's Accept-Language choice is what remains for everyone else)."""

from __future__ import annotations

from django.utils import translation

from merchants.selectors import user_language


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            choice = user_language(user)
            request.language_chosen = choice.chosen  # the switcher shows it
            if choice.language:
                translation.activate(choice.language)
                request.LANGUAGE_CODE = choice.language
        return self.get_response(request)
