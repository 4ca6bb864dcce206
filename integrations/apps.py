from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from events.subscribers import register
        from integrations.connectors.oauth import keep_grants_with
        from integrations.connectors.registry import autodiscover
        from integrations.models import IntegrationSyncLog
        from integrations.services.oauth import fresh_tokens
        from integrations.subscriber import IntegrationSubscriber
        from qiiub import retention

        autodiscover()
        keep_grants_with(fresh_tokens)
        register(IntegrationSubscriber())
        # Each integration keeps its latest run, however old: its page always says when it last ran.
        logs = IntegrationSyncLog._meta.db_table
        retention.register(retention.TableRule(
            name="sync_logs", table=logs, aged_by="started_at", window=retention.days_setting("RETENTION_SYNC_LOG_DAYS"),
            deletable=f"EXISTS (SELECT 1 FROM {logs} newer WHERE newer.merchant_integration_id = "
                      "t.merchant_integration_id AND newer.started_at > t.started_at)",
        ))
