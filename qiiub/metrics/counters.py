"""Counts of what workers do (sync runs, auto-pauses), kept in Redis so that every worker process on
every machine adds to one total, which the scrape reads in one round trip. A count is a hash field
per combination of label values; label values come from bounded sets (codes, never ids).

Counting is best effort: Redis unavailable loses the count (logged), never the work being counted."""

from __future__ import annotations

import json
import logging
from functools import lru_cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    # Short timeouts: a Redis outage must not hold up the sync whose outcome is being counted.
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)


class HubCounter:
    """A Prometheus counter (exported as `<name>_total`) whose value lives in Redis."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]):
        self.name, self.documentation, self.labels = name, documentation, labels

    @property
    def key(self) -> str:
        # Under the cache's prefix, so a test session's counts never mix with a running portal's.
        return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:qiiub:metrics:{self.name}"

    def add(self, **labels: str) -> None:
        field = json.dumps([str(labels[name]) for name in self.labels])
        try:
            _redis().hincrby(self.key, field, 1)
        except redis.RedisError:
            logger.warning("metrics.count_lost", extra={"metric": self.name})

    def samples(self, stored: dict[bytes, bytes]) -> list[tuple[dict[str, str], int]]:
        return [(dict(zip(self.labels, json.loads(field), strict=True)), int(count)) for field, count in stored.items()]


SYNC_RUNS = HubCounter(
    "qiiub_sync_runs", "Sync runs (polls and scheduled batches) by connector, outcome and error code.",
    ("connector", "outcome", "error_code"),
)
AUTO_PAUSES = HubCounter(
    "qiiub_integration_auto_pauses", "Integrations paused after repeated failures, by connector.", ("connector",),
)
HUB_COUNTERS = (SYNC_RUNS, AUTO_PAUSES)


def counters_read() -> list[tuple[HubCounter, list[tuple[dict[str, str], int]]]]:
    """Every hub counter with its samples, in one round trip (raises if Redis does not answer)."""
    pipeline = _redis().pipeline(transaction=False)
    for counter in HUB_COUNTERS:
        pipeline.hgetall(counter.key)
    return [(counter, counter.samples(stored)) for counter, stored in zip(HUB_COUNTERS, pipeline.execute(), strict=True)]
