"""The events benchmark's baseline: a bare Celery task doing the same HTTP POST, no outbox, over the
same keep-alive session a connector uses. The bench's workers import this module (-I), and with it
the sandbox vendors the outbox path delivers to."""

from collections.abc import Iterable
from functools import lru_cache

import redis
from celery import shared_task
from django.conf import settings

from qiiub.http import shared_session
from tests import sandbox_vendors  # noqa: F401  (registers the sandbox vendors)

DONE_KEY = "bench:baseline:done"
# Tasks per broker round trip: as the event bus queues its tasks (events.bus.SEND_BATCH), so that the
# ratio does not credit the outbox path with batching the baseline lacks. Kept here: the bus is changing.
QUEUE_BATCH = 500


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name="bench.post", ignore_result=True)
def post(url: str, token: str, key: str, body: dict) -> None:
    shared_session().post(
        url, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}, timeout=10
    ).raise_for_status()
    _redis().incr(DONE_KEY)


def queue_posts(url: str, body: dict, posts: Iterable[tuple[str, str]]) -> None:
    """Queue one `post` task per (token, idempotency key), QUEUE_BATCH per broker round trip, after resetting the
    count of those done (DONE_KEY)."""
    from qiiub.celery import app

    _redis().delete(DONE_KEY)
    with app.producer_or_acquire() as producer, producer.batch(max_size=QUEUE_BATCH):
        for token, key in posts:
            post.apply_async((url, token, key, body), producer=producer)


def posts_done() -> int:
    return int(_redis().get(DONE_KEY) or 0)
