"""The events benchmark's merchants, built once and copied for each run.

Building them takes minutes (a migrated schema each, then a terminal and two activated sandbox ledgers: the two
accounting-like sandbox vendors of tests/sandbox_vendors.py, on the demo connector). So they are built once into a
template database, `<db>_bench_events_m<merchants>_t<key>`, and each run starts from a copy of it (`CREATE DATABASE
… TEMPLATE`, seconds). The key is a hash of what the rows depend on: the migrations, the seeds, the sandbox vendors,
`build` below, the requirements, the merchant count and the keys that encrypt the stored credentials. When it changes,
the next run builds a new template and drops the one it replaces. `BENCH_REBUILD=1` rebuilds it anyway; a
template of a merchant count no longer run stays until dropped by hand (`dropdb`).

Whatever a run needs is read back from the copy: the merchants (slugs `bench-ev-NNNN`), their location and
terminal, and the ledgers' access tokens (table `public.bench_events_token`); `public.bench_events_setup` says
which key and merchant count the copy was built for, and how long that took.

The build runs as its own process (`python bench/events_setup.py --merchants N --key K`, which `prepared_database`
starts), against the demo simulator the run serves (a ledger is activated only after a passing connection test).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import clone_database, fingerprint, template_database  # noqa: E402

SLUG_PREFIX = "bench-ev-"
BUILD_PROGRESS_EVERY = 50  # merchants between progress lines of a build


def template_key(merchants: int) -> str:
    sources = [*ROOT.glob("*/migrations/*.py"), *(path for path in (ROOT / "seeds").rglob("*") if path.is_file()),
               ROOT / "tests" / "sandbox_vendors.py", ROOT / "requirements.txt"]
    # The stored credentials open only with the keys they were encrypted with (hashed here, never shown).
    keys = hashlib.sha256("|".join(os.environ.get(name, "") for name in (
        "VAULT_BACKEND", "VAULT_LOCAL_KEYS", "FERNET_KEYS")).encode()).hexdigest()
    return fingerprint((path for path in sources if "__pycache__" not in path.parts),
                       salt=f"merchants={merchants};keys={keys};build={inspect.getsource(build)}")


def prepared_database(url: str, merchants: int, env: dict) -> str:
    """The run's database, `<db>_bench_events`: a fresh copy of the template, built first if there is none
    for this key. Returns its URL."""
    key = template_key(merchants)
    # One template per merchant count (a small run does not replace the full one); a new key replaces its own.
    stem = f"{urlsplit(url).path.lstrip('/')}_bench_events_m{merchants}_t"
    started = time.perf_counter()

    def build(building_url: str) -> None:
        print(f"set-up: building the template of {merchants} merchants (key {key}; about 1–2 s a merchant)",
              flush=True)
        subprocess.run([sys.executable, __file__, "--merchants", str(merchants), "--key", key], cwd=ROOT, check=True,
                       env={**env, "DATABASE_URL": building_url, "CELERY_QUEUE": f"bench-events-build-{key}"})

    built = template_database(url, stem + key, build=build, rebuild=os.environ.get("BENCH_REBUILD") == "1",
                              stale_prefix=stem)
    copying = time.perf_counter()
    run_url = clone_database(url, stem + key, "_bench_events")
    print(f"set-up: template {stem + key} {'built' if built else 'reused'}, copied in "
          f"{time.perf_counter() - copying:.1f} s; ready {time.perf_counter() - started:.1f} s after the start "
          f"(BENCH_REBUILD=1 builds it again)", flush=True)
    return run_url


@dataclass
class BenchMerchants:
    merchants: list  # Merchant rows, in slug order
    locations: dict  # merchant pk → its one Location
    terminals: list  # Terminal rows, one per merchant, in the order of `merchants`
    tokens: dict[int, tuple[str, ...]]  # merchant pk → its ledgers' access tokens, in SANDBOX_CODES order
    build_s: float  # how long the template took to build


def bench_merchants(*, merchants: int) -> BenchMerchants:
    """What the copy holds for the run (Django set up on it)."""
    from django.db import connection

    from devices.models import Terminal
    from merchants.models import Location, Merchant
    from tests.sandbox_vendors import SANDBOX_CODES

    with connection.cursor() as cursor:
        cursor.execute("SELECT key, merchants, build_s FROM public.bench_events_setup")
        key, count, build_s = cursor.fetchone()
        cursor.execute("SELECT merchant_id, code, token FROM public.bench_events_token")
        tokens_by_code = {(merchant_id, code): token for merchant_id, code, token in cursor.fetchall()}
    if (key, count) != (template_key(merchants), merchants):
        raise SystemExit(f"the bench database was built for {count} merchants with key {key}: run with BENCH_REBUILD=1")
    rows = list(Merchant.objects.filter(slug__startswith=SLUG_PREFIX).order_by("slug"))
    locations = {location.merchant_id: location for location in Location.objects.filter(merchant__in=rows)}
    terminals = {terminal.location.merchant_id: terminal for terminal in Terminal.objects.filter(
        location__in=locations.values(), revoked_at=None).select_related("location__merchant")}
    return BenchMerchants(
        merchants=rows, locations=locations, terminals=[terminals[merchant.pk] for merchant in rows],
        tokens={merchant.pk: tuple(tokens_by_code[merchant.pk, code] for code in SANDBOX_CODES) for merchant in rows},
        build_s=build_s)


def build(*, merchants: int, key: str) -> None:
    """Fill this process's DATABASE_URL (fresh) with the migrated public schema, the registry and `merchants`
    merchants, each with its schema, one location, one enrolled terminal and both sandbox ledgers active."""
    for command in (["migrate_schemas", "--shared"], ["load_registry"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection

    from devices.terminals import enrollment_code_create, terminal_enroll
    from integrations.models import IntegrationDefinition
    from integrations.services import configuring, enabling, transitions
    from merchants.services import merchant_create
    from tests.sandbox_vendors import SANDBOX_CODES, sandbox_definitions

    started = time.perf_counter()
    sandbox_definitions()
    definitions = [IntegrationDefinition.objects.get(code=code) for code in SANDBOX_CODES]
    tokens = []
    for index in range(merchants):
        with contextlib.redirect_stdout(io.StringIO()):
            merchant = merchant_create(name=f"Bench {index}", slug=f"{SLUG_PREFIX}{index:04d}", vertical="retail",
                                       locations=[("L1", "Main", "San Juan")])
        terminal_enroll(code=enrollment_code_create(location=merchant.locations.get())[1], name="Register 1")
        for definition in definitions:
            integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition, by=None)
            token = f"bench-{merchant.pk}-{definition.code}"
            integration = configuring.merchant_integration_set_credentials(
                integration=integration, credentials={"access_token": token}, by=None)
            configuring.merchant_integration_test_connection(integration=integration, by=None)
            transitions.merchant_integration_activate(integration=integration, by=None)
            tokens.append((merchant.pk, definition.code, token))
        if (index + 1) % BUILD_PROGRESS_EVERY == 0:
            print(f"set-up: {index + 1}/{merchants} merchants in {time.perf_counter() - started:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("""CREATE TABLE public.bench_events_setup (key text NOT NULL, merchants integer NOT NULL,
                          build_s double precision NOT NULL, built_at timestamptz NOT NULL DEFAULT now())""")
        cursor.execute("INSERT INTO public.bench_events_setup (key, merchants, build_s) VALUES (%s, %s, %s)",
                       [key, merchants, time.perf_counter() - started])
        cursor.execute("""CREATE TABLE public.bench_events_token (merchant_id integer NOT NULL, code text NOT NULL,
                          token text NOT NULL, PRIMARY KEY (merchant_id, code))""")
        cursor.executemany("INSERT INTO public.bench_events_token VALUES (%s, %s, %s)", tokens)
    # The build's own queue: what the set-up's commits queued (relay wake-ups) has no worker to run it.
    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    print(f"set-up: {merchants} merchants built in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Build the events benchmark's template database (DATABASE_URL).")
    parser.add_argument("--merchants", type=int, required=True)
    parser.add_argument("--key", required=True)
    arguments = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qiiub.settings")
    build(merchants=arguments.merchants, key=arguments.key)
