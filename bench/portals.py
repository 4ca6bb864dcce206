"""The partner dashboard at scale: a partner with 500 stores × 3 integrations and 30 days
of sync logs (4 runs a day), against one with 50 in the same run. Prints SQL queries and render time
(median of 7, through Django's test client and the whole middleware stack). Targets: the same query
count at 50 and 500 stores, under 300 ms at 500.

The partner's Issues page (open problems grouped across stores, and coverage) the same way: the
same query count at 50 and 500 stores, under 300 ms at 500.

Then bulk-enables a template for every store of each partner (target: under 10 s at 500, queries
growing with batches of 100 stores, not with stores).

Own database (`<name>_bench_portals`, recreated). Ends with
RESULT portals queries_50=… queries_500=… render_50_ms=… render_500_ms=… issues_queries_50=…
issues_queries_500=… issues_render_500_ms=… bulk_500_s=… bulk_queries_50=… bulk_queries_500=… sync_logs=…
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import recreate_database  # noqa: E402

RENDERS = 7


def main() -> None:
    env = {**os.environ, "DATABASE_URL": recreate_database(os.environ["DATABASE_URL"], "_bench_portals"),
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "qiiub.settings", "DJANGO_DEBUG": "0"}
    os.environ.update(env)
    for command in (["migrate_schemas", "--shared"], ["load_registry"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from merchants.models import Role
    from merchants.services import membership_grant
    from partners.models import Partner
    from seeds.fleet import partner_fleet

    admin = get_user_model().objects.create_user("bench-partner-admin", "bench@example.com", "x")
    figures, issues, bulk, logs = {}, {}, {}, 0
    for stores in (50, 500):
        started = time.perf_counter()
        partner = Partner.objects.create(name=f"Chain of {stores}", slug=f"chain-{stores}")
        membership_grant(user=admin, role=Role.PARTNER_ADMIN, partner=partner)
        logs += partner_fleet(partner, stores=stores, prefix=f"chain{stores}")
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"{stores} stores × 3 integrations with 30 days of sync logs in {time.perf_counter() - started:.0f} s",
              flush=True)
        client = Client()
        client.force_login(admin)
        figures[stores] = rendered(client, reverse("portal:partner", args=[partner.slug]))
        print(f"{stores} stores: {figures[stores][0]} queries, {figures[stores][1]:.0f} ms (median of {RENDERS})",
              flush=True)
        issues[stores] = rendered(client, reverse("portal:partner-issues", args=[partner.slug]))
        print(f"{stores} stores, Issues page: {issues[stores][0]} queries, {issues[stores][1]:.0f} ms", flush=True)
        bulk[stores] = bulk_enable(partner, admin)
        print(f"{stores} stores: bulk enable (job created, queued and run) in {bulk[stores][0]:.2f} s, "
              f"{bulk[stores][1]} queries", flush=True)
    (queries_50, render_50), (queries_500, render_500) = figures[50], figures[500]
    print(f"RESULT portals queries_50={queries_50} queries_500={queries_500} render_50_ms={render_50:.0f} "
          f"render_500_ms={render_500:.0f} issues_queries_50={issues[50][0]} issues_queries_500={issues[500][0]} "
          f"issues_render_500_ms={issues[500][1]:.0f} bulk_500_s={bulk[500][0]:.2f} bulk_queries_50={bulk[50][1]} "
          f"bulk_queries_500={bulk[500][1]} sync_logs={logs}")


def rendered(client, url: str) -> tuple[int, float]:
    """The page's SQL query count and its median render time in ms, warmed first (templates, plans)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert client.get(url).status_code == 200
    timings = []
    for _ in range(RENDERS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return len(queries), statistics.median(timings)


def bulk_enable(partner, admin) -> tuple[float, int]:
    """Enable QuickBooks Desktop from a template with mappings for every store of `partner`: the job
    is created, queued on commit and run by the task (eagerly, in this process, so the queries are
    counted). Returns seconds and queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.models import IntegrationDefinition
    from partners.models import BulkAction, BulkJobStatus
    from partners.services import bulk
    from partners.services.templates import template_save
    from qiiub.celery import app
    from seeds.demo import QBO_TEMPLATE_MAPPINGS

    app.conf.task_always_eager = True
    template = template_save(partner=partner, definition=IntegrationDefinition.objects.get(
        code="accounting.quickbooks_desktop"), name="Desktop", configuration={"period": "daily"},
        mappings=QBO_TEMPLATE_MAPPINGS, is_default=True)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        job = bulk.bulk_job_create(partner=partner, action=BulkAction.ENABLE, template=template, by=admin,
                                   merchant_ids=list(partner.merchants.values_list("pk", flat=True)), dry_run=False)
        seconds = time.perf_counter() - started
    job.refresh_from_db()
    assert job.status == BulkJobStatus.DONE and job.failed == 0 and job.processed == job.total, job.status
    return seconds, len(queries)


if __name__ == "__main__":
    main()
