"""The events benchmark's baseline: a bare Celery task doing the same HTTP POST, no outbox, over the
same keep-alive session a connector uses. The bench's workers import this module (-I), and with it
the sandbox vendors the outbox path delivers to."""

from functools import lru_cache

import redis
from celery import shared_task
from django.conf import settings

from qiiub.http import shared_session
from tests import sandbox_vendors  # noqa: F401  (registers the sandbox vendors)

DONE_KEY = "bench:baseline:done"


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name="bench.post", ignore_result=True)
def post(url: str, token: str, key: str, body: dict) -> None:
    shared_session().post(
        url, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}, timeout=10
    ).raise_for_status()
    _redis().incr(DONE_KEY)
