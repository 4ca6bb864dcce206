"""The poll orchestrator at scale: one beat tick claims and enqueues 100,000 due
merchant integrations; the same work done as a per-row loop, in the same run.

Own database (`<name>_bench_polling`, recreated): 1,000 merchants × 100 locations, each with an
active Acumatica integration due now. The merchants are rows without tenant schemas (polling never
enters one). Batches go to a Redis queue of the run's own that nobody consumes (deleted after).
Ends with RESULT polling tick_s=… loop_s=… ratio=… statements=… claimed=… batches=…
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import recreate_database  # noqa: E402

MERCHANTS, LOCATIONS = 1000, 100  # 100,000 integrations
ROWS = int(os.environ.get("BENCH_POLLING_ROWS", MERCHANTS * LOCATIONS))


def main() -> None:
    env = {**os.environ, "DATABASE_URL": recreate_database(os.environ["DATABASE_URL"], "_bench_polling"),
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "qiiub.settings", "DJANGO_DEBUG": "0",
           "CELERY_POLL_QUEUE": f"bench-poll-{uuid.uuid4().hex[:8]}"}
    os.environ.update(env)
    for command in (["migrate_schemas", "--shared"], ["load_registry"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    import redis
    from django.conf import settings

    try:
        build(ROWS)
        tick_s, statements, tick = timed_tick()
        loop_s = timed_loop()
    finally:
        redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_POLL_QUEUE)
    ratio = loop_s / tick_s
    print(f"loop: the same {tick.claimed} polls claimed and enqueued one by one in {loop_s:.1f} s → the tick is "
          f"{ratio:.0f}× faster", flush=True)
    print(f"RESULT polling tick_s={tick_s:.2f} loop_s={loop_s:.1f} ratio={ratio:.0f} statements={statements} "
          f"claimed={tick.claimed} batches={tick.batches}")


def build(rows: int) -> None:
    from django.utils import timezone

    from integrations.models import IntegrationDefinition, MerchantIntegration, Status
    from merchants.models import Location, Merchant

    started = time.perf_counter()
    merchant_count = max(1, rows // LOCATIONS)
    merchants = Merchant.objects.bulk_create([
        Merchant(name=f"Polled {index}", slug=f"polled-{index:05d}", schema_name=f"polled_{index:05d}",
                 vertical="retail")
        for index in range(merchant_count)
    ])
    locations = Location.objects.bulk_create([
        Location(merchant=merchant, name=f"Store {index}", code=f"S{index:03d}")
        for merchant in merchants for index in range(LOCATIONS)
    ], batch_size=5000)[:rows]
    acumatica = IntegrationDefinition.objects.get(code="erp.acumatica")
    now = timezone.now()
    configuration = {"instance_url": "https://erp.example.com", "company": "C", "endpoint_version": "23.200.001",
                     "poll_every_minutes": 15}
    MerchantIntegration.objects.bulk_create([
        MerchantIntegration(merchant_id=location.merchant_id, location=location, definition=acumatica,
                            status=Status.ACTIVE, configuration=configuration, next_poll_at=now)
        for location in locations
    ], batch_size=5000)
    print(f"{len(locations)} due integrations at {len(locations)} locations of {len(merchants)} merchants "
          f"in {time.perf_counter() - started:.0f} s", flush=True)


def timed_tick():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.services import polling
    from integrations.tasks import send_poll_batch

    _vacuum()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        tick = polling.poll_tick(enqueue=send_poll_batch)
    elapsed = time.perf_counter() - started
    statements = [query for query in queries.captured_queries if query["sql"] not in ("BEGIN", "COMMIT")]
    print(f"tick: {tick.claimed} due integrations claimed and enqueued in {tick.batches} batches of at most "
          f"{polling.POLL_BATCH}, in {elapsed:.2f} s, {len(statements)} statements (one claim of up to "
          f"{polling.CLAIM_CHUNK} rows each, each in its own transaction)", flush=True)
    return elapsed, len(statements), tick


def timed_loop() -> float:
    """What a tick without set-based claims would do: read the due ids, then lock, move and
    enqueue each row on its own."""
    from django.db import transaction
    from django.utils import timezone

    from integrations.models import MerchantIntegration, Status
    from integrations.services import polling
    from integrations.tasks import send_poll_batch

    MerchantIntegration.objects.update(next_poll_at=timezone.now())
    _vacuum()
    started = time.perf_counter()
    now = timezone.now()
    due = list(MerchantIntegration.objects.filter(
        status=Status.ACTIVE, next_poll_at__lte=now, definition__sync_patterns__contains=["polling"]
    ).order_by("next_poll_at").values_list("pk", flat=True))
    for integration_id in due:
        with transaction.atomic():
            row = (MerchantIntegration.objects.select_for_update(skip_locked=True)
                   .filter(pk=integration_id, next_poll_at__lte=now).values_list("pk", flat=True).first())
            if row is not None:
                MerchantIntegration.objects.filter(pk=row).update(next_poll_at=now + polling.POLL_LEASE)
        if row is not None:
            send_poll_batch([row])
    return time.perf_counter() - started


def _vacuum() -> None:
    # Both runs start from the same table state: bulk loads and updates leave dead rows behind.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE integrations_merchantintegration")


if __name__ == "__main__":
    main()
