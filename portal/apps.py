from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The portal's own pages (home, the merchant dashboard, the language switch), its URLs and
    its template tags: the top of the stack, over every app whose pages it gathers."""

    name = "portal"
