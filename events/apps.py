from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Event bus"

    def ready(self) -> None:
        from events.retention import OutboxRule
        from qiiub import retention

        retention.register(OutboxRule())
