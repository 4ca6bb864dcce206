"""The nightly QuickBooks Online journal at scale: build and post a day's journal for a
location with 5,000 sales to the QuickBooks fake over HTTP, and the same for a location with 50,
in the same run. The target is queries that do not grow with the number of sales.

Own database (`<name>_bench_journal`, recreated); the QuickBooks fake runs in this process on a
free port and is connected through the same OAuth services as the portal. Sales go in through the
POS sales service. Ends with
RESULT journal sales=5000 seconds=… queries=… queries_50=… http_calls=…
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import recreate_database  # noqa: E402

SALES = int(os.environ.get("BENCH_JOURNAL_SALES", "5000"))
FEW = 50


def main() -> None:
    from simulators.quickbooks import make_server

    fake = make_server()
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    env = {**os.environ, "DATABASE_URL": recreate_database(os.environ["DATABASE_URL"], "_bench_journal"),
           "QBO_BASE_URL": f"http://127.0.0.1:{fake.server_port}", "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "qiiub.settings", "DJANGO_DEBUG": "0",
           "CELERY_QUEUE": "bench-journal-unconsumed"}
    os.environ.update(env)
    for command in (["migrate_schemas", "--shared"], ["load_registry"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    measured = {count: measure(count, fake.state) for count in (FEW, SALES)}
    (few_s, few_queries, _), (seconds, queries, calls) = measured[FEW], measured[SALES]
    print(f"{FEW} sales: {few_s * 1000:.0f} ms, {few_queries} queries", flush=True)
    print(f"{SALES} sales: {seconds * 1000:.0f} ms, {queries} queries, {calls} QuickBooks calls", flush=True)
    print(f"RESULT journal sales={SALES} seconds={seconds:.3f} queries={queries} queries_{FEW}={few_queries} "
          f"http_calls={calls}")


def measure(sales: int, fake_state) -> tuple[float, int, int]:
    """A merchant with one location and `sales` sales yesterday; its nightly batch, timed."""
    from datetime import datetime, timedelta
    from datetime import time as clock
    from zoneinfo import ZoneInfo

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from devices.sales import sale_record
    from integrations.models import IntegrationDefinition, IntegrationMapping, MerchantIntegration, SyncStatus
    from integrations.services import enabling, transitions
    from integrations.services.polling import SCHEDULED_BATCHES
    from integrations.services.sync import merchant_integration_sync
    from merchants.services import merchant_create
    from seeds.demo import QBO_TEMPLATE_MAPPINGS, oauth_connect_on_simulator

    with contextlib.redirect_stdout(io.StringIO()):
        merchant = merchant_create(name=f"Journal {sales}", slug=f"journal-{sales}", vertical="pharmacy",
                                   locations=[("J1", "Main", "San Juan")])
    location = merchant.locations.get()
    integration = enabling.merchant_integration_enable(
        merchant=merchant, definition=IntegrationDefinition.objects.get(code="accounting.quickbooks_online"), by=None)
    IntegrationMapping.objects.bulk_create([IntegrationMapping(merchant_integration=integration, **row)
                                            for row in QBO_TEMPLATE_MAPPINGS])
    oauth_connect_on_simulator(integration, by=None)
    integration = transitions.merchant_integration_activate(integration=MerchantIntegration.objects.get(pk=integration.pk),
                                                          by=None)
    zone = ZoneInfo(merchant.time_zone)
    start = datetime.combine(timezone.now().astimezone(zone).date() - timedelta(days=1), clock(6), tzinfo=zone)
    started = time.perf_counter()
    for index in range(sales):
        card = index % 3 == 0
        sale_record(merchant=merchant, location=location, sale={
            "client_uuid": f"00000000-0000-4000-8000-{sales:06d}{index:06d}",
            "completed_at": (start + timedelta(seconds=index * 10)).isoformat(),
            "subtotal": "10.00", "tax_state": "1.05", "tax_municipal": "0.10", "total": "11.15",
            "lines": [{"sku": "OTC-1", "description": "Item", "quantity": "1", "unit_price": "10.00", "line_total": "10.00"}],
            "tenders": [{"kind": "card", "amount": "11.15", "card_brand": "visa", "card_last4": "4242",
                         "entry_method": "chip"} if card else {"kind": "cash", "amount": "11.15"}],
        })
    print(f"{sales} sales written in {time.perf_counter() - started:.1f} s", flush=True)
    calls_before = fake_state.accounting_requests
    connection.queries_log.clear()  # the sales' inserts must not crowd the capture's window
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        log = merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk),
                                        due=SCHEDULED_BATCHES)
        seconds = time.perf_counter() - started
    if log.status != SyncStatus.SUCCESS or log.records_pushed != 1:
        raise SystemExit(f"the batch did not post one journal: {log.status} {log.error_summary}")
    entry = fake_state.journal_entries[-1]
    debits = sum(line["Amount"] for line in entry["lines"] if line["JournalEntryLineDetail"]["PostingType"] == "Debit")
    expected = round(11.15 * sales, 2)
    if round(debits, 2) != expected:
        raise SystemExit(f"the posted journal debits {debits}, expected {expected}")
    return seconds, len(queries), fake_state.accounting_requests - calls_before


if __name__ == "__main__":
    main()
