from django.apps import AppConfig


class DevicesConfig(AppConfig):
    """Terminals, the settings cascade and the POS sync API."""

    name = "devices"

    def ready(self) -> None:
        from devices.cascade import integrations_changed as bump_terminal_config
        from integrations.signals import integrations_changed

        integrations_changed.connect(bump_terminal_config, dispatch_uid="devices.terminal_config")
