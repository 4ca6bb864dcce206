"""The POS sync API's OpenAPI document: generated from the POS API's URL modules alone
(settings.POS_API_URLCONFS: terminals' and the pharmacy relay's), so it describes that contract and
nothing of the portal's own API."""

from django.conf import settings
from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from devices.api_document import COMPONENTS, DESCRIPTION

PREFIX = "api/pos/v1/"
urlpatterns = [path(PREFIX, include(urlconf)) for urlconf in settings.POS_API_URLCONFS]


def request_bodies_required(result, generator, request, public):
    """Every POS operation that takes a body refuses to go without one (drf-spectacular marks a body
    given as a plain JSON Schema optional)."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result


class PosOpenApiView(SpectacularJSONAPIView):
    urlconf = __name__
    authentication_classes: list = []
    custom_settings = {
        "TITLE": "QIIUB POS sync API",
        "DESCRIPTION": DESCRIPTION,
        "VERSION": "1",
        "OAS_VERSION": "3.1.0",
        "APPEND_COMPONENTS": {"schemas": COMPONENTS},
        # Not drf-spectacular's enum hook: the record schemas are served as written (ADR 0012).
        "POSTPROCESSING_HOOKS": ["devices.openapi.request_bodies_required"],
    }
