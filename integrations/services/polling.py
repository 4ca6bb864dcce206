"""The poll orchestrator: every beat tick claims all due poll-capable integrations, and all
integrations whose scheduled batch is due, and hands them to workers in batches of messages, at
any scale, without ever running one twice at once.

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
from integrations.services.schedules import next_batch_at

POLL_BATCH = 500  # at most 500 polls per message on the poll queue
CLAIM_CHUNK = 5000  # rows claimed per statement: ten messages' worth
# How long a claimed integration stays claimed: longer than a batch can wait in the queue and run.
POLL_LEASE = timedelta(minutes=10)
DEFAULT_POLL_INTERVAL = timedelta(minutes=1)


class Tick(NamedTuple):
    claimed: int
    batches: int


class Due(NamedTuple):
    """What comes due: the column holding when, and the sync pattern that makes it apply."""

    column: str
    pattern: str


POLLS = Due("next_poll_at", SyncPattern.POLLING)
SCHEDULED_BATCHES = Due("next_batch_at", SyncPattern.SCHEDULED_BATCH)


def _claim_sql(due: Due) -> str:
    integrations, definitions = MerchantIntegration._meta.db_table, IntegrationDefinition._meta.db_table
    return f"""
        UPDATE {integrations} SET {due.column} = %(lease_until)s
        WHERE id IN (
            SELECT id FROM {integrations}
            WHERE status = %(active)s AND {due.column} <= %(now)s
              AND definition_id IN (SELECT id FROM {definitions} WHERE %(pattern)s = ANY(sync_patterns))
            ORDER BY {due.column}
            LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        )
        RETURNING id
    """


def due_claim(due: Due, *, now: datetime, limit: int = CLAIM_CHUNK) -> list[int]:
    """Claim up to `limit` active integrations for which `due` has come (one statement, its own
    commit): their time moves forward by the lease."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_claim_sql(due), {"lease_until": now + POLL_LEASE, "active": Status.ACTIVE, "now": now,
                                         "pattern": due.pattern, "limit": limit})
        return [row[0] for row in cursor.fetchall()]


def polls_claim(*, now: datetime, limit: int = CLAIM_CHUNK) -> list[int]:
    return due_claim(POLLS, now=now, limit=limit)


def poll_tick(*, enqueue: Callable[[list[int]], None], now: datetime | None = None, due: Due = POLLS) -> Tick:
    """Claim everything due, chunk by chunk, and enqueue it in batches of POLL_BATCH. Each chunk
    is committed before its batches are sent, so a worker always sees the claim."""
    now = now or timezone.now()
    claimed = batches = 0
    while True:
        ids = due_claim(due, now=now)
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


def rescheduled(*, integration: MerchantIntegration, due: Due, rate_limited_for: timedelta | None = None) -> None:
    """After a run: the next poll after the integration's interval, the next batch at its next
    scheduled time, or either after the wait a rate-limiting vendor asked for."""
    now = timezone.now()
    if rate_limited_for is not None:
        when = now + rate_limited_for
    elif due == POLLS:
        when = now + poll_interval(integration)
    else:
        when = next_batch_at(integration, after=now)
    MerchantIntegration.objects.filter(pk=integration.pk, status=Status.ACTIVE).update(**{due.column: when})
