"""Tenancy at scale: creating a merchant (its schema built from the template) and `migrate_schemas`
at BENCH_TENANTS merchant schemas (default 10,000): a no-op run, then a run with a few schemas
one migration behind.

Runs on a database of its own, `<name>_tenants_bench`, kept between runs: its schemas are built once
(the slow part at 10,000, BENCH_BUILD_PROCESSES at once) and reused, which is sound because every run first brings them all to the
code's latest migration (not measured) before measuring anything. BENCH_REBUILD=1 starts afresh.
Creation is timed on the build, and on BENCH_CREATE_SAMPLE merchants created at full size (then
removed, so the database stays at BENCH_TENANTS).

Ends with: RESULT tenants schemas=… create_p50_s=… create_p99_s=… noop_migrate_s=… behind_migrate_s=… …
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
TENANTS = int(os.environ.get("BENCH_TENANTS", "10000"))
CREATE_SAMPLE = int(os.environ.get("BENCH_CREATE_SAMPLE", "100"))
# The build only: the figures come from merchants created one at a time at full size.
BUILD_PROCESSES = int(os.environ.get("BENCH_BUILD_PROCESSES", "2"))
BEHIND = 10  # schemas rolled back one migration before the last measured run
BEHIND_APP = "pharmacy_store"  # its last migration (the PHI log's trigger) is undone and redone


def bench_database_url() -> str:
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/qiiub"))
    name = url.path.lstrip("/") + "_tenants_bench"
    with psycopg.connect(urlunsplit(url._replace(path="/postgres")), autocommit=True) as connection:
        if os.environ.get("BENCH_REBUILD"):
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(url._replace(path=f"/{name}"))


def manage(env: dict, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    finished = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                              capture_output=True, text=True)
    return time.perf_counter() - started, finished.stdout


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def skipped_line(output: str) -> str:
    found = re.search(r"Merchant schemas at the latest migration.*", output)
    return found.group(0)[:160] if found else "(no report)"


def create(index: int, prefix: str = "bench") -> float:
    from merchants.services import merchant_create

    started = time.perf_counter()
    merchant_create(name=f"Bench merchant {index}", slug=f"{prefix}-{index:05d}", vertical="retail",
                    locations=[("L1", "Main", "San Juan")])
    return time.perf_counter() - started


def build(existing: int) -> list[float]:
    """Merchants up to TENANTS, created by BUILD_PROCESSES processes at once; each creation's seconds."""
    import multiprocessing

    from django.db import connection

    connection.close()  # each forked process opens its own
    times: list[float] = []
    with multiprocessing.get_context("fork").Pool(BUILD_PROCESSES) as pool:
        for seconds in pool.imap(create, range(existing, TENANTS), chunksize=20):
            times.append(seconds)
            if len(times) % 500 == 0:
                print(f"  {existing + len(times)} merchants; last 500 at p50 {statistics.median(times[-500:]):.3f} s",
                      flush=True)
    return times


def sample_at_full_size() -> list[float]:
    from merchants.models import Merchant

    times = [create(index, prefix="probe") for index in range(CREATE_SAMPLE)]
    for merchant in Merchant.objects.filter(slug__startswith="probe-"):
        merchant.delete(force_drop=True)
    return times


def roll_back(schemas: list[str]) -> None:
    from django.core.management import call_command
    from django.db.migrations.loader import MigrationLoader

    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    (leaf,) = graph.leaf_nodes(BEHIND_APP)
    previous = next((parent.key[1] for parent in graph.node_map[leaf].parents if parent.key[0] == BEHIND_APP), "zero")
    for schema in schemas:
        with contextlib.redirect_stdout(io.StringIO()):
            call_command("migrate_schemas", BEHIND_APP, previous, schema_name=schema, interactive=False, verbosity=0)


def main() -> None:
    env = {**os.environ, "DATABASE_URL": bench_database_url(), "LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    processes = env.get("TENANT_MIGRATION_PROCESSES", "2")
    shared_s, _ = manage(env, "migrate_schemas", "--shared")
    print(f"public schema and template migrated in {shared_s:.1f} s", flush=True)

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qiiub.settings")
    django.setup()
    from django.db import connection

    from merchants.models import Merchant

    existing = Merchant.objects.count()
    if existing:
        setup_s, output = manage(env, "migrate_schemas", "--tenant", "--executor=multiprocessing")
        print(f"reused {existing} schemas, brought to the latest migration in {setup_s:.1f} s: {skipped_line(output)}")
    built = build(existing)
    if built:
        print(f"built {len(built)} merchants: first 100 p50 {statistics.median(built[:100]):.3f} s, "
              f"last 100 p50 {statistics.median(built[-100:]):.3f} s", flush=True)
    connection.close()
    sample = sample_at_full_size()
    create_p50, create_p99 = statistics.median(sample), percentile(sample, 0.99)
    print(f"create a merchant at {TENANTS} schemas ({CREATE_SAMPLE} timed): p50 {create_p50:.3f} s, p99 {create_p99:.3f} s")

    noop_s, output = manage(env, "migrate_schemas", "--executor=multiprocessing")
    print(f"no-op migrate_schemas at {TENANTS} schemas ({processes} processes): {noop_s:.1f} s — {skipped_line(output)}")

    schemas = list(Merchant.objects.order_by("pk").values_list("schema_name", flat=True))
    behind = schemas[:: max(1, len(schemas) // BEHIND)][:BEHIND]
    roll_back(behind)
    connection.close()
    behind_s, output = manage(env, "migrate_schemas", "--executor=multiprocessing")
    print(f"migrate_schemas with {len(behind)} schemas one migration behind: {behind_s:.1f} s — {skipped_line(output)}")

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        size_mb = cursor.fetchone()[0] / 2**20
    print(f"database size at {TENANTS} schemas: {size_mb:,.0f} MiB")
    print(f"RESULT tenants schemas={TENANTS} create_p50_s={create_p50:.3f} create_p99_s={create_p99:.3f} "
          f"noop_migrate_s={noop_s:.1f} behind={len(behind)} behind_migrate_s={behind_s:.1f} "
          f"processes={processes} db_size_mb={size_mb:.0f}")


if __name__ == "__main__":
    main()
