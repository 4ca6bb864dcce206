from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from events.subscribers import register
        from integrations.connectors.oauth import keep_grants_with
        from integrations.connectors.registry import autodiscover
        from integrations.services.oauth import fresh_tokens
        from integrations.subscriber import IntegrationSubscriber

        autodiscover()
        keep_grants_with(fresh_tokens)
        register(IntegrationSubscriber())
