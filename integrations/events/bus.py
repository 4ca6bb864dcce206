"""The bus port (D1): how committed events and their deliveries reach a worker. Celery on Redis by
default; `integrations/events/service_bus.py` is the Azure Service Bus adapter."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import redis
from django.conf import settings

from qiiub.errors import ApplicationError

# A relay run drains every committed event, so one queued run serves every commit made before it
# starts. The key says "a run is queued"; its expiry bounds the wait if that run is lost (the sweep
# is the backstop either way).
RELAY_WAKE_TTL_MS = 1000


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    # Short timeouts: a broker outage must not hold up the business write that just committed.
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)


class CeleryBus:
    """A relay task fans events out; then one Celery task per delivery."""

    @staticmethod
    def _wake_key() -> str:
        from qiiub.celery import app

        return f"events:relay-queued:{app.conf.task_default_queue}"

    def wake_relay(self) -> None:
        from integrations.events.tasks import relay_events

        if _redis().set(self._wake_key(), 1, nx=True, px=RELAY_WAKE_TTL_MS):
            relay_events.delay()

    def clear_relay_wake(self) -> None:
        # When a run starts, before it reads the outbox: a commit from now on queues a run of its own.
        _redis().delete(self._wake_key())

    def send(self, delivery_ids: Iterable[int], *, countdown: float | None = None) -> None:
        from integrations.events.tasks import deliver_event
        from qiiub.celery import app

        with app.producer_or_acquire() as producer:
            for delivery_id in delivery_ids:
                deliver_event.apply_async(args=[delivery_id], countdown=countdown, producer=producer)


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
