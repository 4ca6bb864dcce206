"""The bus port (D1): how committed deliveries reach a worker. Celery on Redis by default."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings

from qiiub.errors import ApplicationError


class CeleryBus:
    """One Celery task per delivery; a broker outage is survived by the outbox and the sweep."""

    def relay(self, event_id) -> None:
        from integrations.events.tasks import relay_event

        relay_event.delay(str(event_id))

    def send(self, delivery_ids: Iterable[int], *, countdown: float | None = None) -> None:
        from integrations.events.tasks import deliver_event

        for delivery_id in delivery_ids:
            deliver_event.apply_async(args=[delivery_id], countdown=countdown)


@lru_cache(maxsize=2)
def _bus_for(name: str):
    if name == "celery":
        return CeleryBus()
    if name == "azure_service_bus":
        from integrations.events.service_bus import ServiceBusBus

        return ServiceBusBus()
    raise ApplicationError(f"Unknown EVENT_BUS '{name}'.", code="bus_misconfigured")


def get_bus():
    return _bus_for(settings.EVENT_BUS)
