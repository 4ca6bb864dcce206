from django.apps import AppConfig


class DevicesConfig(AppConfig):
    """Terminals, the settings cascade and the POS sync API."""

    name = "devices"
