"""The poll orchestrator (D2): every beat tick claims all due poll-capable integrations and hands
them to poll workers in batches, at any scale, without ever polling one twice at once.

A claim is one statement per chunk: `UPDATE … SET next_poll_at = now + lease WHERE id IN (SELECT …
FOR UPDATE SKIP LOCKED)`. Two orchestrators running at once take different rows, and a claimed
integration is not due again until its lease runs out. A poll worker sets the real next poll time
once it has polled; if the worker dies, or a batch message is lost, the lease lapses and the next
tick claims the integration again. Nothing is lost and nothing runs twice at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from integrations.models import IntegrationDefinition, MerchantIntegration, Status, SyncPattern

POLL_BATCH = 500  # D2: at most 500 polls per message on the poll queue
CLAIM_CHUNK = 5000  # rows claimed per statement: ten messages' worth
# How long a claimed integration stays claimed: longer than a batch can wait in the queue and run.
POLL_LEASE = timedelta(minutes=10)
DEFAULT_POLL_INTERVAL = timedelta(minutes=1)
RATE_LIMIT_BACKOFF = timedelta(minutes=1)  # when a vendor says 429 without saying how long


class Tick(NamedTuple):
    claimed: int
    batches: int


def _claim_sql() -> str:
    integrations, definitions = MerchantIntegration._meta.db_table, IntegrationDefinition._meta.db_table
    return f"""
        UPDATE {integrations} SET next_poll_at = %(lease_until)s
        WHERE id IN (
            SELECT id FROM {integrations}
            WHERE status = %(active)s AND next_poll_at <= %(now)s
              AND definition_id IN (SELECT id FROM {definitions} WHERE %(polling)s = ANY(sync_patterns))
            ORDER BY next_poll_at
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        )
        RETURNING id
    """


def polls_claim(*, now: datetime, limit: int = CLAIM_CHUNK) -> list[int]:
    """Claim up to `limit` due, active, poll-capable integrations (one statement, its own commit)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_claim_sql(), {"lease_until": now + POLL_LEASE, "active": Status.ACTIVE, "now": now,
                                      "polling": SyncPattern.POLLING, "limit": limit})
        return [row[0] for row in cursor.fetchall()]


def poll_tick(*, enqueue: Callable[[list[int]], None], now: datetime | None = None) -> Tick:
    """Claim every due integration, chunk by chunk, and enqueue them in batches of POLL_BATCH.
    Each chunk is committed before its batches are sent, so a worker always sees the claim."""
    now = now or timezone.now()
    claimed = batches = 0
    while True:
        ids = polls_claim(now=now)
        for start in range(0, len(ids), POLL_BATCH):
            enqueue(ids[start : start + POLL_BATCH])
            batches += 1
        claimed += len(ids)
        if len(ids) < CLAIM_CHUNK:
            return Tick(claimed, batches)


def poll_interval(integration: MerchantIntegration) -> timedelta:
    """How often this integration is polled: its configuration's `poll_every_minutes`, if any."""
    minutes = (integration.configuration or {}).get("poll_every_minutes")
    return timedelta(minutes=minutes) if isinstance(minutes, int) and minutes > 0 else DEFAULT_POLL_INTERVAL


def next_poll_set(*, integration: MerchantIntegration, after: timedelta) -> None:
    MerchantIntegration.objects.filter(pk=integration.pk, status=Status.ACTIVE).update(
        next_poll_at=timezone.now() + after
    )
