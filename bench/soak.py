"""Retention soak (ADR 0039): days of traffic written an hour at a time with back-dated times, the
hourly retention run after each hour, and the bounded tables' rows and sizes after day 1 and after
the last day. Flat is the target: soak_growth = bytes after the last day / bytes after day 1 ≈ 1.

Traffic per simulated day (BENCH_SOAK_* to vary): 200 merchants × 200 events (the anchor of
docs/capacity.md), each delivered to an integration and a webhook endpoint (one attempt each;
0.5 % die after 3; the analytics sink counts events without a delivery row); per merchant 10 processed inbound webhooks (1.3 kB bodies) and 4 sync
runs; in 2 merchants' schemas, 5 terminals × 3 peripherals reporting every 15 minutes. Bulk
INSERT … SELECT, so an hour of traffic takes a fraction of a second.

Every window is one day here (RETENTION_*; the defaults are 30 to 90), so day 1 already fills a
window: a table that kept growing would be N× its day-1 size after N days. Autovacuum is stood in
for, as it would have run during a real hour: a table is vacuumed when its deletes or inserts since
the last vacuum pass autovacuum's own thresholds (the table's settings, else the server's). Prints
each rule's median and longest retention transaction too (how long it held its row locks).

Own database (`<name>_bench_soak`, recreated). Ends with
RESULT soak days=N rows_day1=… rows_dayN=… bytes_day1=… bytes_dayN=… soak_growth=… longest_batch_ms=…
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import recreate_database  # noqa: E402

DAYS = int(os.environ.get("BENCH_SOAK_DAYS", "7"))
MERCHANTS = int(os.environ.get("BENCH_SOAK_MERCHANTS", "200"))
EVENTS_PER_MERCHANT_DAY = int(os.environ.get("BENCH_SOAK_EVENTS", "200"))
TENANTS = int(os.environ.get("BENCH_SOAK_TENANTS", "2"))
INBOUND_PER_MERCHANT_DAY, SYNCS_PER_MERCHANT_DAY = 10, 4
DEAD_SHARE, DEAD_ATTEMPTS = 0.005, 3
TERMINALS, PERIPHERALS, REPORTS_PER_HOUR = 5, ("receipt_printer", "scale", "scanner"), 4
WINDOW_DAYS = 1  # every RETENTION_* window during the soak
PUBLIC_TABLES = ("integrations_outboxevent", "integrations_eventdelivery", "integrations_deliveryattempt",
                 "integrations_inboundwebhook", "integrations_integrationsynclog")
TENANT_TABLE = "store_devicestatus"
SALE = {"location": "S01", "total": "23.81", "tax_state": "2.15", "tax_municipal": "0.21",
        "completed_at": "2026-12-01T10:15:00-04:00",
        "lines": [{"sku": f"SKU-{n:04d}", "quantity": "1", "unit_price": "3.49", "line_total": "3.49"} for n in range(4)],
        "tenders": [{"kind": "cash", "amount": "10.00"}, {"kind": "card", "amount": "13.81"}]}
ORDER = {"id": 820982911946154508, "note": "", "line_items": [
    {"id": 466157049 + n, "sku": f"SKU-{n:04d}", "title": "Café molido 1 lb", "quantity": 1, "price": "9.99",
     "properties": [], "tax_lines": [{"title": "IVU", "price": "1.15", "rate": 0.115}]} for n in range(6)],
    "customer": {"id": 207119551, "email": "cliente@example.com"}, "total_price": "68.86", "currency": "USD"}


def main() -> None:
    env = {**os.environ, "DATABASE_URL": recreate_database(os.environ["DATABASE_URL"], "_bench_soak"),
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "qiiub.settings", "DJANGO_DEBUG": "0",
           "CELERY_QUEUE": "bench-soak-unconsumed"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate_schemas", "--shared"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    import django

    django.setup()
    figures = soak(DAYS)
    print("RESULT soak " + " ".join(f"{key}={figures[key]}" for key in (
        "days", "rows_day1", "rows_dayN", "bytes_day1", "bytes_dayN", "soak_growth", "longest_batch_ms")))


def soak(days: int) -> dict:
    """Write `days` of traffic an hour at a time into the current database (migrated; Django set
    up), run retention after each hour, and return the figures. Adds its own merchants."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from qiiub import retention

    fleet = _fleet()
    windows = {name: getattr(settings, name) for name in dir(settings) if name.startswith("RETENTION_")
               and name.endswith("_DAYS")}
    for name in windows:
        setattr(settings, name, WINDOW_DAYS)
    timed = _TimedRules(retention)
    vacuum = _Autovacuum(connection, [*PUBLIC_TABLES, *(f'"{schema}".{TENANT_TABLE}' for schema in fleet["tenants"])])
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    figures: dict = {"days": days}
    try:
        for day in range(1, days + 1):
            started, spent = time.monotonic(), 0.0
            for hour in range(24):
                at = start + timedelta(days=day - 1, hours=hour)
                written = _write_hour(connection, fleet, at)
                report = retention.retention_run(now=at + timedelta(hours=1), budget_s=3600)
                spent += report.seconds
                vacuum.after(written, report.deleted)
            sizes = _sizes(connection, fleet["tenants"])
            rows, size = sum(count for count, _ in sizes.values()), sum(size for _, size in sizes.values())
            print(f"day {day}: {rows:,} rows, {size / 1e6:.1f} MB ("
                  + ", ".join(f"{table.split('_', 1)[1]} {count:,}" for table, (count, _) in sizes.items())
                  + f"); written and purged in {time.monotonic() - started:.1f} s, retention {spent:.1f} s",
                  flush=True)
            if day == 1:
                figures.update(rows_day1=rows, bytes_day1=size, tables_day1=sizes)
            figures.update(rows_dayN=rows, bytes_dayN=size, tables_dayN=sizes)
    finally:
        for name, value in windows.items():
            setattr(settings, name, value)
        timed.restore()
    figures["soak_growth"] = round(figures["bytes_dayN"] / figures["bytes_day1"], 2)
    figures["longest_batch_ms"] = round(timed.longest * 1000, 1)
    print(f"retention transactions per rule, median / longest: {timed.summary()}", flush=True)
    for label, key in (("day 1", "tables_day1"), (f"day {days}", "tables_dayN")):
        print(f"{label} MB: " + ", ".join(f"{table.split('_', 1)[1]} {size / 1e6:.1f}"
                                          for table, (_, size) in figures[key].items()), flush=True)
    return figures


def _fleet() -> dict:
    """Merchants as rows (no schemas: the public tables need none), each with an integration and a
    webhook endpoint; and TENANTS merchants with their own schema, for the terminals' reports."""
    from integrations.models import IntegrationDefinition, MerchantIntegration
    from merchants.models import Merchant
    from merchants.services import merchant_create
    from webhooks.models import WebhookEndpoint

    prefix = f"soak{uuid.uuid4().hex[:6]}"
    definition, _ = IntegrationDefinition.objects.get_or_create(code="bench.soak", defaults={
        "name": "Soak ledger", "category": "accounting", "integration_type": "cloud", "status": "available"})
    merchants = Merchant.objects.bulk_create([
        Merchant(name=f"Soak {index}", slug=f"{prefix}-{index:04d}", schema_name=f"{prefix}_{index:04d}",
                 vertical="retail") for index in range(MERCHANTS)])
    integrations = MerchantIntegration.objects.bulk_create([
        MerchantIntegration(merchant=merchant, definition=definition, status="active") for merchant in merchants])
    endpoints = WebhookEndpoint.objects.bulk_create([
        WebhookEndpoint(merchant=merchant, url=f"https://erp{merchant.pk}.example/hooks", event_types=["sale.completed"],
                        secret_vault_key=f"whsec-{prefix}-{merchant.pk}") for merchant in merchants])
    tenants = []
    for index in range(TENANTS):
        with contextlib.redirect_stdout(io.StringIO()):  # django-tenants prints every migration
            tenant = merchant_create(name=f"Soak store {index}", slug=f"{prefix}-store-{index}", vertical="retail",
                                     locations=[("S01", "Main", "San Juan")])
        tenants.append(tenant.schema_name)
    return {"merchants": [m.pk for m in merchants], "integrations": [i.pk for i in integrations],
            "endpoints": [e.pk for e in endpoints], "tenants": tenants}


def _write_hour(connection, fleet: dict, at) -> dict[str, int]:
    """An hour of traffic from `at`; returns the rows written per table."""
    hour = {"start": at, "end": at + timedelta(hours=1), "merchants": fleet["merchants"],
            "integrations": fleet["integrations"], "endpoints": fleet["endpoints"]}
    per_hour = {name: max(1, round(len(fleet["merchants"]) * per_day / 24)) for name, per_day in (
        ("events", EVENTS_PER_MERCHANT_DAY), ("inbound", INBOUND_PER_MERCHANT_DAY), ("syncs", SYNCS_PER_MERCHANT_DAY))}
    written = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM integrations_eventdelivery")
        (last_delivery,) = cursor.fetchone()
        # A merchant's receivers sit at the same position of the three lists.
        receivers = """(SELECT m, i, w, ordinality AS position FROM unnest(%(merchants)s::bigint[],
                        %(integrations)s::bigint[], %(endpoints)s::bigint[]) WITH ORDINALITY AS r(m, i, w))"""
        cursor.execute(f"""
            INSERT INTO integrations_outboxevent (id, event_type, merchant_id, payload, created_at, relayed_at)
            SELECT gen_random_uuid(), 'sale.completed', r.m, %(payload)s::jsonb || jsonb_build_object('sale_id', g),
                   at, at + interval '40 milliseconds'
            FROM generate_series(1, %(count)s) g
            CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + random() * interval '1 hour' AS at) t
            JOIN {receivers} r ON r.position = 1 + g %% cardinality(%(merchants)s::bigint[])""",
                       {**hour, "count": per_hour["events"], "payload": json.dumps(SALE)})
        written["integrations_outboxevent"] = cursor.rowcount
        cursor.execute(f"""
            INSERT INTO integrations_eventdelivery (event_id, merchant_id, subscriber_kind, subscriber_key,
                merchant_integration_id, webhook_endpoint_id, status, attempts, max_attempts, last_error, succeeded_at,
                created_at, updated_at)
            SELECT e.id, e.merchant_id, s.kind, s.key, s.integration, s.endpoint,
                   CASE WHEN s.dies THEN 'dead' ELSE 'succeeded' END, CASE WHEN s.dies THEN {DEAD_ATTEMPTS} ELSE 1 END,
                   {DEAD_ATTEMPTS},
                   CASE WHEN s.dies THEN 'The vendor answered 503.' ELSE '' END,
                   CASE WHEN s.dies THEN NULL ELSE e.relayed_at + interval '200 milliseconds' END, e.relayed_at,
                   e.relayed_at + CASE WHEN s.dies THEN interval '10 minutes' ELSE interval '200 milliseconds' END
            FROM integrations_outboxevent e JOIN {receivers} r ON r.m = e.merchant_id
            CROSS JOIN LATERAL (VALUES
                ('integration', 'integration:' || r.i, r.i, NULL, random() < {DEAD_SHARE}),
                ('webhook', 'webhook:' || r.w, NULL, r.w, random() < {DEAD_SHARE})
            ) AS s(kind, key, integration, endpoint, dies)
            WHERE e.created_at >= %(start)s AND e.created_at < %(end)s""", hour)
        written["integrations_eventdelivery"] = cursor.rowcount
        cursor.execute("""
            INSERT INTO integrations_deliveryattempt (delivery_id, number, succeeded, error, duration_ms, status_code,
                response_excerpt, error_code, error_params, request_headers, response_headers, attempted_at)
            SELECT d.id, n, d.status = 'succeeded', d.last_error, 180, CASE WHEN d.status = 'succeeded' THEN 200 ELSE 503 END,
                   CASE WHEN d.status = 'succeeded' THEN '{"received": true}' ELSE 'Service Unavailable' END,
                   CASE WHEN d.status = 'succeeded' THEN '' ELSE 'vendor_status' END,
                   CASE WHEN d.status = 'succeeded' THEN NULL ELSE '{"status": 503}'::jsonb END,
                   CASE WHEN d.subscriber_kind = 'webhook' THEN %(sent)s::jsonb END,
                   CASE WHEN d.subscriber_kind = 'webhook' THEN %(answered)s::jsonb END,
                   d.created_at + n * interval '1 second'
            FROM integrations_eventdelivery d CROSS JOIN LATERAL generate_series(1, d.attempts) n
            WHERE d.id > %(last)s""",
                       {"last": last_delivery, "sent": json.dumps({"Content-Type": "application/json",
                                                                   "QIIUB-Signature": "t=1765000000,v1=" + "a" * 64}),
                        "answered": json.dumps({"Content-Type": "application/json", "Server": "nginx"})})
        written["integrations_deliveryattempt"] = cursor.rowcount
        cursor.execute(f"""
            INSERT INTO integrations_inboundwebhook (merchant_integration_id, vendor_webhook_id, topic, body, status,
                error, received_at, processed_at)
            SELECT r.i, 'soak-' || extract(epoch FROM %(start)s::timestamptz)::bigint || '-' || g, 'orders/create',
                   %(body)s, 'processed', '', at, at + interval '2 seconds'
            FROM generate_series(1, %(count)s) g
            CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + random() * interval '1 hour' AS at) t
            JOIN {receivers} r ON r.position = 1 + g %% cardinality(%(merchants)s::bigint[])""",
                       {**hour, "count": per_hour["inbound"], "body": json.dumps(ORDER)})
        written["integrations_inboundwebhook"] = cursor.rowcount
        cursor.execute(f"""
            INSERT INTO integrations_integrationsynclog (merchant_integration_id, direction, status, records_pushed,
                records_pulled, error_count, duration_ms, error_summary, error_message, started_at, finished_at)
            SELECT r.i, 'push', 'success', 12, 0, 0, 2400, '', '{{}}', at, at + interval '2400 milliseconds'
            FROM generate_series(1, %(count)s) g
            CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + random() * interval '1 hour' AS at) t
            JOIN {receivers} r ON r.position = 1 + (%(offset)s + g) %% cardinality(%(merchants)s::bigint[])""",
                       {**hour, "count": per_hour["syncs"], "offset": at.hour * per_hour["syncs"]})
        written["integrations_integrationsynclog"] = cursor.rowcount
        for schema in fleet["tenants"]:
            cursor.execute(f"""
                INSERT INTO "{schema}".{TENANT_TABLE} (client_uuid, location_code, terminal_id, device, state, detail,
                    reported_at)
                SELECT gen_random_uuid(), 'S01', terminal, device, 'ok', '', %(start)s::timestamptz + report * %(every)s
                FROM generate_series(1, {TERMINALS}) terminal, unnest(%(devices)s::text[]) device,
                     generate_series(0, {REPORTS_PER_HOUR - 1}) report""",
                           {**hour, "devices": list(PERIPHERALS), "every": timedelta(hours=1) / REPORTS_PER_HOUR})
            written[f'"{schema}".{TENANT_TABLE}'] = cursor.rowcount
    return written


class _Autovacuum:
    """Vacuums a table when autovacuum would have during a real hour: dead rows past threshold +
    scale factor × rows, or inserted rows past the insert threshold and scale factor (the table's
    own settings, else the server's)."""

    SETTINGS = ("autovacuum_vacuum_threshold", "autovacuum_vacuum_scale_factor",
                "autovacuum_vacuum_insert_threshold", "autovacuum_vacuum_insert_scale_factor")

    def __init__(self, connection, tables: list[str]):
        self.connection, self.tables = connection, tables
        self.inserted = dict.fromkeys(tables, 0)
        self.deleted = dict.fromkeys(tables, 0)
        self.settings = {}
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(f"current_setting('{name}')::float" for name in self.SETTINGS))
            server = dict(zip(self.SETTINGS, cursor.fetchone(), strict=True))
            for table in tables:
                cursor.execute("SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = %s::regclass", [table])
                own = dict(option.split("=", 1) for option in cursor.fetchone()[0])
                self.settings[table] = {name: float(own.get(name, server[name])) for name in self.SETTINGS}

    def after(self, written: dict[str, int], deleted: dict[str, int]) -> None:
        # The report sums a merchant-schema table over the schemas: shared evenly between them.
        schemas = sum(1 for name in self.tables if name.endswith(f".{TENANT_TABLE}")) or 1
        for table in self.tables:
            name = table.rsplit(".", 1)[-1]
            self.inserted[table] += written.get(table, 0)
            self.deleted[table] += deleted.get(name, 0) // (schemas if name == TENANT_TABLE else 1)
            threshold, scale, insert_threshold, insert_scale = self.settings[table].values()
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass", [table])
                (rows,) = cursor.fetchone()
                if (self.deleted[table] > threshold + scale * rows
                        or self.inserted[table] > insert_threshold + insert_scale * rows):
                    cursor.execute(f"VACUUM (ANALYZE) {table}")
                    self.inserted[table] = self.deleted[table] = 0


class _TimedRules:
    """Times every batch of the registered rules (each is one transaction holding its row locks)."""

    def __init__(self, retention):
        self.retention, self.seconds_by_rule = retention, {}
        self.original = dict(retention._rules)
        for name, rule in self.original.items():
            retention._rules[name] = _Timed(rule, self)

    @property
    def longest(self) -> float:
        return max((max(seconds) for seconds in self.seconds_by_rule.values()), default=0.0)

    def summary(self) -> str:
        return ", ".join(f"{name} {statistics.median(seconds) * 1000:.0f} / {max(seconds) * 1000:.0f} ms"
                         for name, seconds in sorted(self.seconds_by_rule.items()))

    def restore(self) -> None:
        self.retention._rules.clear()
        self.retention._rules.update(self.original)


class _Timed:
    def __init__(self, rule, timer: _TimedRules):
        self.rule, self.timer, self.name, self.tenant = rule, timer, rule.name, rule.tenant

    def purge_batch(self, **arguments):
        started = time.perf_counter()
        try:
            return self.rule.purge_batch(**arguments)
        finally:
            self.timer.seconds_by_rule.setdefault(self.name, []).append(time.perf_counter() - started)


def _sizes(connection, tenants: list[str]) -> dict[str, tuple[int, int]]:
    """Rows and bytes (table, indexes and TOAST) of each bounded table, a merchant-schema one summed."""
    sizes: dict[str, tuple[int, int]] = {}
    with connection.cursor() as cursor:
        for table in (*PUBLIC_TABLES, *(f'"{schema}".{TENANT_TABLE}' for schema in tenants)):
            cursor.execute(f"SELECT count(*), pg_total_relation_size(%s::regclass) FROM {table}", [table])
            count, size = cursor.fetchone()
            name = table.rsplit(".", 1)[-1]
            before = sizes.get(name, (0, 0))
            sizes[name] = (before[0] + count, before[1] + size)
    return sizes


if __name__ == "__main__":
    main()
