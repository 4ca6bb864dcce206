"""The events benchmark's baseline: a bare Celery task doing the same HTTP POST, no outbox."""

import redis
import requests
from celery import shared_task
from django.conf import settings

DONE_KEY = "bench:baseline:done"


@shared_task(name="bench.post", ignore_result=True)
def post(url: str, token: str, key: str, body: dict) -> None:
    requests.post(
        url, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}, timeout=10
    ).raise_for_status()
    redis.Redis.from_url(settings.REDIS_URL).incr(DONE_KEY)
