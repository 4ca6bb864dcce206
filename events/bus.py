"""The bus port: how committed events and their deliveries reach a worker. Celery (on Redis or RabbitMQ) by
default; `integrations/events/service_bus.py` is the Azure Service Bus adapter."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from functools import lru_cache

import redis
from django.conf import settings

from qiiub.errors import ApplicationError

logger = logging.getLogger(__name__)

# A relay run drains every committed event, so one queued run serves every commit made before it
# starts. The key says "a run is queued"; its expiry bounds the wait if that run is lost (the sweep
# is the backstop either way).
RELAY_WAKE_TTL_MS = 1000
SEND_BATCH = 500  # tasks per broker round trip


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    # Short timeouts: a broker outage must not hold up the business write that just committed.
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)


class CeleryBus:
    """A relay task fans events out; then one Celery task per batch of deliveries."""

    @staticmethod
    def _wake_key() -> str:
        from qiiub.celery import app

        return f"events:relay-queued:{app.conf.task_default_queue}"

    def wake_relay(self) -> None:
        """Called on commit. The wake-up itself goes out from a thread of this process, so a
        business write never waits on Redis (nor on its timeouts while it is down)."""
        from qiiub.celery import app

        if app.conf.task_always_eager:  # no broker: the relay runs here and now
            self.wake_relay_now()
        else:
            _RELAY_WAKER.poke()

    def wake_relay_now(self) -> None:
        from events.tasks import relay_events

        if _redis().set(self._wake_key(), 1, nx=True, px=RELAY_WAKE_TTL_MS):
            relay_events.delay()

    def clear_relay_wake(self) -> None:
        # When a run starts, before it reads the outbox: a commit from now on queues a run of its own.
        _redis().delete(self._wake_key())

    def send(self, delivery_ids: Iterable[int], *, countdown: float | None = None) -> None:
        from events.tasks import deliver_batch
        from qiiub.celery import app

        # A task per EVENT_DISPATCH_BATCH deliveries, and one broker round trip for all of them (on
        # Redis a pipeline; other transports publish one by one). If it fails, the deliveries stay
        # pending for the sweep.
        ids, size = list(delivery_ids), settings.EVENT_DISPATCH_BATCH
        if not ids:
            return
        with app.producer_or_acquire() as producer, producer.batch(max_size=SEND_BATCH):
            for start in range(0, len(ids), size):
                deliver_batch.apply_async(args=[ids[start:start + size]], countdown=countdown, producer=producer)


class _Waker:
    """Runs `wake` on a daemon thread after each poke. Pokes that come while a wake-up is going
    out are served by one more wake-up after it, so every commit is followed by a wake-up that
    starts after the commit. If the process dies first, the beat sweep relays the events."""

    def __init__(self, wake: Callable[[], None]):
        self._wake = wake
        self._poked = threading.Event()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def poke(self) -> None:
        if self._pid != os.getpid():  # first use, or a forked child (threads do not survive a fork)
            with self._lock:
                if self._pid != os.getpid():
                    self._poked = threading.Event()
                    threading.Thread(target=self._run, args=(self._poked,), name="relay-waker", daemon=True).start()
                    self._pid = os.getpid()
        self._poked.set()

    def _run(self, poked: threading.Event) -> None:
        while True:
            poked.wait()
            poked.clear()
            try:
                self._wake()
            except Exception:  # Redis down or the broker refusing: the sweep relays the events
                logger.warning("events.relay_wake_failed", exc_info=True)


_RELAY_WAKER = _Waker(lambda: CeleryBus().wake_relay_now())


@lru_cache(maxsize=2)
def _bus_for(name: str):
    if name == "celery":
        return CeleryBus()
    if name == "azure_service_bus":
        from events.service_bus import ServiceBusBus

        return ServiceBusBus()
    raise ApplicationError(f"Unknown EVENT_BUS '{name}'.", code="bus_misconfigured")


def get_bus():
    return _bus_for(settings.EVENT_BUS)
