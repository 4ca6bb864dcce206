from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from events.subscribers import register, register_sweep
        from qiiub import retention
        from qiiub.messages import catalog_extend
        from webhooks.delivery_errors import ATTEMPT_ERRORS
        from webhooks.inbound import inbound_sweep
        from webhooks.models import InboundStatus, InboundWebhook
        from webhooks.subscriber import WebhookSubscriber

        register(WebhookSubscriber())
        register_sweep(inbound_sweep)
        catalog_extend(ATTEMPT_ERRORS)
        # Processed bodies only: one still to process (or failed) waits for a worker or a person.
        # Its vendor id answers a vendor's redelivery as a repeat, so the window outlasts their retries.
        retention.register(retention.TableRule(
            name="inbound_webhooks", table=InboundWebhook._meta.db_table, aged_by="received_at",
            window=retention.days_setting("RETENTION_INBOUND_WEBHOOK_DAYS"),
            deletable=f"t.status = '{InboundStatus.PROCESSED}' AND t.processed_at < %(cutoff)s",
        ))
