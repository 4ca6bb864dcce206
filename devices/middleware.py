from django.urls import reverse

from devices.api import config_not_modified


class NotModifiedConfigMiddleware:
    """Answers an unchanged terminal config before the rest of the stack (sessions, locale, CSRF,
    messages, DRF): at 10,000 terminals pulling every minute, that is most of the POS traffic."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.path = reverse("pos:config")

    def __call__(self, request):
        if request.path_info == self.path and (not_modified := config_not_modified(request)) is not None:
            return not_modified
        return self.get_response(request)
