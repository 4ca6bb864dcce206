from http import HTTPStatus

from django.http import JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from devices.api import config_not_modified
from devices.openapi import PREFIX
from qiiub.api import error_body

# Headers of an error answer that tell the client what to do next: kept when its body is replaced.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


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


class PosApiErrorsMiddleware:
    """Every answer under /api/pos/v1/ is JSON, errors included. The views' own errors already are
    (the DRF exception handler); this turns Django's pages into the same {"error": …} body: the 404
    of a path the API does not have (or a malformed path parameter), the 400 of a request Django
    refuses before any view, and the 500 of an unexpected exception, which Django has logged already.
    It sits above every other middleware, so an error in any of them is answered in JSON too."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix = "/" + PREFIX

    def __call__(self, request):
        response = self.get_response(request)
        in_api = request.path_info.startswith(self.prefix) or request.path_info == self.prefix.rstrip("/")
        if not in_api or response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
            return response
        answer = JsonResponse(error_body(*_error(response.status_code)), status=response.status_code)
        for header in _KEPT_HEADERS:
            if header in response:
                answer[header] = response[header]
        return answer


def _error(status: int) -> tuple[str, str]:
    """(code, message) for an error answer Django wrote (a 404 and a 500, mostly)."""
    if status == 404:
        message = _("The POS API has no such path, or a value in it is malformed: its paths are in "
                    "/%(prefix)sopenapi.json.") % {"prefix": PREFIX}
        return "not_found", message
    if status >= 500:
        return "server_error", _("Something went wrong on our side: try again later.")
    try:
        code = HTTPStatus(status).phrase.lower().replace(" ", "_")  # 400 → bad_request, 403 → forbidden
    except ValueError:
        code = "request_refused"
    return code, _("The request was refused (HTTP %(status)s).") % {"status": status}
