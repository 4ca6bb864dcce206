"""Tenancy at scale: time to create a merchant (schema + migrations) and a no-op
`migrate_schemas` at 100 and 1,000 merchant schemas, the multiprocessing (parallel) executor with
2 processes vs the standard one, in the same run.

Runs on its own database (`<name>_bench`, recreated), never the dev or test one.
Ends with: RESULT tenants create_s=… noop_migrate_100_s=… noop_migrate_1000_s=… …
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (100, 1000)
TIMED_CREATIONS = 20


def bench_database_url() -> str:
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/qiiub"))
    name = url.path.lstrip("/") + "_bench"
    admin = urlunsplit(url._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(url._replace(path=f"/{name}"))


def manage(env: dict, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    env = {**os.environ, "DATABASE_URL": bench_database_url(), "LOG_LEVEL": "WARNING"}
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    manage(env, "migrate_schemas", "--shared")
    manage(env, "load_registry")

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qiiub.settings")
    django.setup()
    from merchants.models import Merchant
    from merchants.services import merchant_create

    creation_times: list[float] = []
    results: dict[str, str] = {}
    for target in TARGETS:
        while Merchant.objects.count() < target:
            index = Merchant.objects.count()
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # django-tenants prints every migration
                merchant_create(
                    name=f"Bench merchant {index}", slug=f"bench-{index:05d}", vertical="retail",
                    locations=[("L1", "Main", "San Juan")],
                )
            creation_times.append(time.perf_counter() - started)
            if index % 100 == 99:
                print(f"  {index + 1} merchants, last 100 created at {statistics.mean(creation_times[-100:]):.3f} s each", flush=True)
        parallel = manage({**env, "TENANT_MIGRATION_PROCESSES": "2"}, "migrate_schemas", "--executor=multiprocessing")
        standard = manage(env, "migrate_schemas", "--executor=standard")
        print(f"{target} schemas: no-op migrate_schemas parallel {parallel:.1f} s, standard {standard:.1f} s", flush=True)
        results[f"noop_migrate_{target}_s"] = f"{parallel:.1f}"
        results[f"noop_migrate_{target}_standard_s"] = f"{standard:.1f}"

    create_s = statistics.median(creation_times[:TIMED_CREATIONS])
    create_late_s = statistics.median(creation_times[-TIMED_CREATIONS:])
    print(f"merchant creation: median {create_s:.3f} s for the first {TIMED_CREATIONS}, {create_late_s:.3f} s near 1,000")
    fields = " ".join(f"{key}={value}" for key, value in results.items())
    print(f"RESULT tenants create_s={create_s:.3f} create_at_1000_s={create_late_s:.3f} {fields}")


if __name__ == "__main__":
    main()
