"""How many messages wait in each Celery queue the hub uses, read from a Redis broker: a queue is a
Redis list, one per priority step (kombu's Redis transport). Another broker is not read here (no
queue series then; RabbitMQ reports its own queues to Prometheus)."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings
from kombu.transport.redis import PRIORITY_STEPS, Channel

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def hub_queues() -> list[str]:
    from qiiub.celery import app

    return sorted({app.conf.task_default_queue, settings.CELERY_POLL_QUEUE})


def _broker_url() -> str:
    from qiiub.celery import app

    return app.conf.broker_url or ""


@lru_cache(maxsize=4)
def _broker(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def _list_keys(queue: str) -> list[str]:
    return [f"{queue}{Channel.sep}{step}" if step else queue for step in PRIORITY_STEPS]


def queue_lengths() -> dict[str, int] | None:
    """Messages waiting per queue (one round trip), or None when the broker is not Redis."""
    url = _broker_url()
    if not url.startswith(REDIS_SCHEMES):
        return None
    queues = hub_queues()
    pipeline = _broker(url).pipeline(transaction=False)
    for queue in queues:
        for key in _list_keys(queue):
            pipeline.llen(key)
    lengths = iter(pipeline.execute())
    return {queue: sum(next(lengths) for _ in PRIORITY_STEPS) for queue in queues}
