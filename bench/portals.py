"""The partner dashboard at scale (issue 6): a partner with 500 stores × 3 integrations and 30 days
of sync logs (4 runs a day), against one with 50 in the same run. Prints SQL queries and render time
(median of 7, through Django's test client and the whole middleware stack). Targets: the same query
count at 50 and 500 stores, under 300 ms at 500.

Own database (`<name>_bench_portals`, recreated). Ends with
RESULT portals queries_50=… queries_500=… render_50_ms=… render_500_ms=… sync_logs=…
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
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from merchants.models import Role
    from merchants.services import membership_grant
    from partners.models import Partner
    from seeds.fleet import partner_fleet

    admin = get_user_model().objects.create_user("bench-partner-admin", "bench@example.com", "x")
    figures, logs = {}, 0
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
        url = reverse("portal:partner", args=[partner.slug])
        assert client.get(url).status_code == 200  # warm: templates, plans
        timings = []
        for _ in range(RENDERS):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
        figures[stores] = (len(queries), statistics.median(timings))
        print(f"{stores} stores: {len(queries)} queries, {figures[stores][1]:.0f} ms (median of {RENDERS})", flush=True)
    (queries_50, render_50), (queries_500, render_500) = figures[50], figures[500]
    print(f"RESULT portals queries_50={queries_50} queries_500={queries_500} render_50_ms={render_50:.0f} "
          f"render_500_ms={render_500:.0f} sync_logs={logs}")


if __name__ == "__main__":
    main()
