from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from events.subscribers import register, register_sweep
        from qiiub.messages import catalog_extend
        from webhooks.delivery_errors import ATTEMPT_ERRORS
        from webhooks.inbound import inbound_sweep
        from webhooks.subscriber import WebhookSubscriber

        register(WebhookSubscriber())
        register_sweep(inbound_sweep)
        catalog_extend(ATTEMPT_ERRORS)
