"""Retention (DESIGN.md D18, ADR 0039): each high-volume table keeps its rows for a window set in
settings (RETENTION_*), and this runner deletes what is past it.

Apps register their rules from `AppConfig.ready()` with `register(rule)`: the outbox (an event with
its deliveries and attempts, `events.retention`), processed inbound webhook bodies, sync logs, and
in every merchant's schema the terminals' device statuses and, past their legal period, the books.
A rule deletes one batch per call, in one short transaction: it locks the rows it deletes (skipping
any a writer holds), deletes their children first and then the rows, in plain SQL (Django's
cascade would load them). The runner takes one batch of each rule in turn, in the public schema and
in every merchant's, until every rule is done or the run's time budget is spent; the next run takes
up what is left. The pharmacy's patient data keeps its own rule and beat entry (`pharmacy.retention`)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

logger = logging.getLogger(__name__)


class Purged(NamedTuple):
    """One batch of a rule: rows deleted per table, where the next batch starts, whether it is done."""

    deleted: dict[str, int]
    after: Any
    done: bool


class Rule(Protocol):
    name: str
    tenant: bool  # in every merchant's schema, not the public one

    def purge_batch(self, *, now: datetime, after: Any, size: int) -> Purged:
        """Delete up to `size` rows past their window, from `after` on (None: from the start)."""


_rules: dict[str, Rule] = {}


def register(*rules: Rule) -> None:
    for rule in rules:
        _rules[rule.name] = rule


def rules() -> list[Rule]:
    return list(_rules.values())


def days_setting(name: str) -> Callable[[], timedelta]:
    """A window read from settings when a run starts, so a changed setting applies to the next run."""
    return lambda: timedelta(days=getattr(settings, name))


def years_setting(name: str) -> Callable[[], timedelta]:
    # 366 days a year: never shorter than the legal period, whatever the leap years.
    return lambda: timedelta(days=366 * getattr(settings, name))


@dataclass(frozen=True)
class TableRule:
    """A table whose rows go once `aged_by` is older than the window and `deletable` holds.

    The table is walked by its primary key, which rises with `aged_by` near enough (both are set
    when the row is written), so no index on the time column is needed: the walk ends at the first
    batch with nothing old in it. A row written late with an old time goes when the walk reaches
    it. `deletable` is SQL on the row (alias `t`; `%(cutoff)s` is the window's start); rows it
    refuses are kept and stepped over. `children` are (table, column holding this table's id)."""

    name: str
    table: str
    aged_by: str
    window: Callable[[], timedelta]
    deletable: str = "TRUE"
    children: tuple[tuple[str, str], ...] = ()
    tenant: bool = False

    def purge_batch(self, *, now: datetime, after: Any, size: int) -> Purged:
        table = connection.ops.quote_name(self.table)
        params = {"cutoff": now - self.window(), "after": after or 0, "size": size}
        with transaction.atomic(), connection.cursor() as cursor:
            # One row back however long the batch: the ids to delete, where it ended, whether any was old.
            cursor.execute(
                f"""SELECT array_agg(id) FILTER (WHERE doomed), max(id), count(*), coalesce(bool_or(aged), false)
                    FROM (SELECT t.id, t.{self.aged_by} < %(cutoff)s AS aged,
                                 CASE WHEN t.{self.aged_by} < %(cutoff)s THEN ({self.deletable}) END AS doomed
                          FROM {table} t WHERE t.id > %(after)s ORDER BY t.id LIMIT %(size)s) walk""",
                params,
            )
            doomed, last, walked, any_aged = cursor.fetchone()
            deleted = self._delete(cursor, table, doomed, params) if doomed else {}
        return Purged(deleted, last, walked < size or not any_aged)

    def _delete(self, cursor, table: str, doomed: list[int], params: dict) -> dict[str, int]:
        # Locked first and checked again: a row a writer holds, or that changed meanwhile, stays.
        cursor.execute(
            f"SELECT t.id FROM {table} t WHERE t.id = ANY(%(doomed)s) AND t.{self.aged_by} < %(cutoff)s"
            f" AND ({self.deletable}) FOR UPDATE SKIP LOCKED",
            {**params, "doomed": doomed},
        )
        locked = [row_id for (row_id,) in cursor.fetchall()]
        deleted = {}
        for child, column in self.children:
            cursor.execute(
                f"DELETE FROM {connection.ops.quote_name(child)} WHERE {connection.ops.quote_name(column)} = ANY(%s)",
                [locked],
            )
            deleted[child] = cursor.rowcount
        cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", [locked])
        deleted[self.table] = cursor.rowcount
        return deleted


@dataclass
class Report:
    """What a run deleted, per table (a merchant-schema table summed over the merchants)."""

    deleted: dict[str, int] = field(default_factory=dict)
    finished: bool = True  # False: the budget ran out first; the next run goes on
    failed: list[str] = field(default_factory=list)  # "rule@schema" whose batch failed, left for the next run
    seconds: float = 0.0

    def add(self, deleted: dict[str, int]) -> None:
        for table, count in deleted.items():
            self.deleted[table] = self.deleted.get(table, 0) + count


@dataclass
class _Job:
    rule: Rule
    schema: str
    after: Any = None


def _tenant_schemas() -> list[str]:
    """The merchants' schemas that exist (a merchant row may have none: the benches' fleets)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace")
        existing = {name for (name,) in cursor.fetchall()}
    merchants = get_tenant_model().objects.exclude(schema_name=get_public_schema_name()).order_by("pk")
    return [schema for schema in merchants.values_list("schema_name", flat=True) if schema in existing]


def retention_run(*, now: datetime | None = None, budget_s: float | None = None,
                  batch_rows: int | None = None) -> Report:
    """Apply every registered rule, in the public schema and every merchant's, one batch of each in
    turn (no rule or merchant waits behind another's backlog), until all are done or `budget_s`
    (RETENTION_RUN_BUDGET_S) is spent. `now` is the time the windows count back from."""
    now = now or timezone.now()
    started = time.monotonic()
    deadline = started + (settings.RETENTION_RUN_BUDGET_S if budget_s is None else budget_s)
    size = batch_rows or settings.RETENTION_BATCH_ROWS
    public, tenants = get_public_schema_name(), None
    jobs: deque[_Job] = deque()
    for rule in rules():
        if rule.tenant:
            tenants = _tenant_schemas() if tenants is None else tenants
            jobs.extend(_Job(rule, schema) for schema in tenants)
        else:
            jobs.append(_Job(rule, public))
    report = Report()
    while jobs:
        if time.monotonic() > deadline:
            report.finished = False
            break
        job = jobs.popleft()
        try:
            with schema_context(job.schema):
                purged = job.rule.purge_batch(now=now, after=job.after, size=size)
        except DatabaseError:
            # A deadlock or a timeout ends this rule's turn in this schema; the next run starts it again.
            logger.exception("retention.batch_failed", extra={"rule": job.rule.name, "schema": job.schema})
            report.failed.append(f"{job.rule.name}@{job.schema}")
            continue
        report.add(purged.deleted)
        if not purged.done:
            job.after = purged.after
            jobs.append(job)
    report.seconds = time.monotonic() - started
    logger.info("retention.run", extra={"deleted": report.deleted, "finished": report.finished,
                                        "failed": len(report.failed), "seconds": round(report.seconds, 1)})
    return report
