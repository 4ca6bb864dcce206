"""The POS sync API's OpenAPI document: generated from `devices/urls.py` alone, so it describes
the terminal contract and nothing of the portal's own API."""

from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

PREFIX = "api/pos/v1/"
urlpatterns = [path(PREFIX, include("devices.urls"))]


class PosOpenApiView(SpectacularJSONAPIView):
    urlconf = __name__
    authentication_classes: list = []
    custom_settings = {
        "TITLE": "QIIUB POS sync API",
        "DESCRIPTION": "Config down, results up: the contract of possync.exe on every terminal (D8).",
        "VERSION": "1",
        "OAS_VERSION": "3.1.0",
    }
