from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from events.subscribers import register
        from integrations.connectors.registry import autodiscover
        from integrations.subscriber import IntegrationSubscriber

        autodiscover()
        register(IntegrationSubscriber())
