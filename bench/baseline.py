"""The events benchmark's baseline: a bare Celery task doing the same HTTP POST, no outbox, over the
same keep-alive session a connector uses. Also the two vendors the benchmark delivers to: demo
connectors that take sales, registered here because the bench's workers import this module (-I)."""

from functools import lru_cache

import redis
from celery import shared_task
from django.conf import settings

from integrations.connectors import register
from integrations.connectors.base import shared_session
from integrations.connectors.demo import DemoConnector
from integrations.events.types import SALE_COMPLETED

DONE_KEY = "bench:baseline:done"
# Two accounting vendors per merchant, each taking every sale (what QuickBooks and Xero were before
# their real connectors): the measure stays the bus's, whatever each vendor's connector does.
VENDOR_CODES = ("bench.accounting_one", "bench.accounting_two")
for _code in VENDOR_CODES:
    register(_code)(type(f"Bench_{_code}", (DemoConnector,), {"event_types": frozenset({SALE_COMPLETED.code})}))


def create_vendor_definitions() -> None:
    from integrations.models import IntegrationDefinition

    token = {"type": "object", "properties": {"access_token": {"type": "string", "writeOnly": True}},
             "required": ["access_token"]}
    for code in VENDOR_CODES:
        IntegrationDefinition.objects.get_or_create(code=code, defaults={
            "name": code, "category": "accounting", "integration_type": "cloud", "status": "available",
            "credentials_schema": token, "sync_patterns": ["webhook_push"]})


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name="bench.post", ignore_result=True)
def post(url: str, token: str, key: str, body: dict) -> None:
    shared_session().post(
        url, json=body, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}, timeout=10
    ).raise_for_status()
    _redis().incr(DONE_KEY)
