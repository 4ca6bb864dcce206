"""Settlement reconciliation at chain scale: a month of card tenders against the processor's settled rows.

500 stores × 30 days × 100 card tenders a day (1.5 M tenders; --stores / --days / --per-day to vary) and a
Stripe settlement file that differs from the tills in known ways, ≈ 1 % of the tenders each: amount differs,
at the till only, at the processor only, settled after midnight, matched only by auth code + last 4 + amount,
voided, refunded (a POS return against the processor's refund), chargeback (bench/reconcile_setup.py says how
each is planted). The settled rows are in the table as the processor fetch would have stored them (the fetch
over HTTP is not measured). Measured: reconciling the month as the nightly run does it, one
`payments.reconcile.match_days(first=day 1, last=day 30)` and `day_figures` in the merchant's schema and one
transaction: seconds, and the SQL statements they run (which must not grow with the tenders). Then, with SQL
over what was written: every planted discrepancy found with its expected outcome (and how it matched), no
item pairing a tender with a settled row it was not built with, and one item per tender of the month.

The month is built once into a template database `<db>_bench_reconcile_s<stores>_d<days>_p<per day>_t<key>`
(under a minute at full size) and copied for each run into `<db>_bench_reconcile`; the key hashes the
migrations, the seeds, the requirements and bench/reconcile_setup.py. BENCH_REBUILD=1 builds it anyway.
--explain also prints EXPLAIN (ANALYZE, BUFFERS) of the matching statement (run again, rolled back).
Ends with
RESULT reconcile tenders=… seconds=… statements=… planted=… found=… false_matches=0 unexpected=… uncovered=… …
(statements counts every execute, django-tenants' SET search_path included; unexpected: items of unplanted tenders
or rows that are not a plain match by reference; uncovered: tenders or settled rows of the month without exactly
one item; rows_per_s: tenders + settled rows over seconds; commit_seconds: the commit after, not in seconds.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import clone_database, fingerprint, template_database  # noqa: E402
from bench.reconcile_setup import KINDS  # noqa: E402

FIRST_DAY = date(2026, 6, 1)  # the month reconciled (June: 30 days)
SETUP = ROOT / "bench" / "reconcile_setup.py"


def template_key(stores: int, days: int, per_day: int) -> str:
    sources = [*ROOT.glob("*/migrations/*.py"), *ROOT.glob("*/*/migrations/*.py"),
               *(path for path in (ROOT / "seeds").rglob("*") if path.is_file()), ROOT / "requirements.txt", SETUP]
    return fingerprint((path for path in sources if "__pycache__" not in path.parts),
                       salt=f"stores={stores};days={days};per_day={per_day};first={FIRST_DAY}")


def prepared_database(url: str, args, env: dict) -> tuple[str, bool, float]:
    """The run's database: a fresh copy of the template (built first if there is none for this key). Returns its
    URL, whether the template was built now, and the seconds until the copy was ready."""
    key = template_key(args.stores, args.days, args.per_day)
    stem = f"{urlsplit(url).path.lstrip('/')}_bench_reconcile_s{args.stores}_d{args.days}_p{args.per_day}_t"
    started = time.perf_counter()

    def build(building_url: str) -> None:
        print(f"set-up: building the template {stem + key} ({args.stores * args.days * args.per_day:,} tenders)",
              flush=True)
        subprocess.run([sys.executable, str(SETUP), "--stores", str(args.stores), "--days", str(args.days),
                        "--per-day", str(args.per_day), "--first", FIRST_DAY.isoformat(), "--key", key],
                       cwd=ROOT, check=True,
                       env={**env, "DATABASE_URL": building_url, "CELERY_QUEUE": f"bench-reconcile-build-{key}"})

    built = template_database(url, stem + key, build=build, rebuild=os.environ.get("BENCH_REBUILD") == "1",
                              stale_prefix=stem)
    copying = time.perf_counter()
    run_url = clone_database(url, stem + key, "_bench_reconcile")
    ready = time.perf_counter() - started
    print(f"set-up: template {stem + key} {'built' if built else 'reused'}, copied in "
          f"{time.perf_counter() - copying:.1f} s; ready {ready:.1f} s after the start (BENCH_REBUILD=1 builds it "
          f"again)", flush=True)
    return run_url, built, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=100)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of the matching statement")
    args = parser.parse_args()
    started = time.perf_counter()
    env = {**os.environ, "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "qiiub.settings",
           "DJANGO_DEBUG": "0",  # as deployed: debug mode keeps every query in memory
           "CELERY_QUEUE": "bench-reconcile-unconsumed"}
    env["DATABASE_URL"], built, ready_s = prepared_database(os.environ["DATABASE_URL"], args, env)
    os.environ.update(env)
    run(args, built=built, ready_s=ready_s, started=started)


def run(args, *, built: bool, ready_s: float, started: float) -> None:
    import django

    django.setup()
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from integrations.models import MerchantIntegration
    from payments.gateways.stripe import Stripe
    from payments.reconcile import day_figures, match_days

    with connection.cursor() as cursor:
        cursor.execute("SELECT key, stores, days, per_day, first_day, integration_id, build_s FROM bench_reconcile.setup")
        key, stores, days, per_day, first, integration_id, build_s = cursor.fetchone()
    if (key, stores, days, per_day) != (template_key(args.stores, args.days, args.per_day), args.stores, args.days,
                                        args.per_day):
        raise SystemExit(f"the bench database was built for {stores}×{days}×{per_day} with key {key}: "
                         "run with BENCH_REBUILD=1")
    integration = MerchantIntegration.objects.select_related("merchant").get(pk=integration_id)
    merchant = integration.merchant
    codes = list(merchant.locations.order_by("code").values_list("code", flat=True))
    last = first + timedelta(days=days - 1)
    print(f"set-up: {merchant.schema_name}, {len(codes)} stores, {first} … {last}; template "
          f"{'built in' if built else 'reused (it took'} {build_s:.0f} s{'' if built else ' to build)'}", flush=True)

    statements: list[tuple[str, object]] = []

    def counted(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with schema_context(merchant.schema_name):
        with transaction.atomic():
            with connection.execute_wrapper(counted):
                began = time.perf_counter()
                written = match_days(integration=integration, gateway=Stripe, first=first, last=last,
                                     location_codes=codes)
                figures = day_figures(integration_id=integration.pk, first=first, last=last)
                seconds = time.perf_counter() - began
            committing = time.perf_counter()
        commit_s = time.perf_counter() - committing
        checks = verify(connection, integration.pk, first, last, merchant.time_zone)
        plan = explain(connection, statements) if args.explain else ""

    tenders, settled = checks["tenders"], checks["settled"]
    rows_per_s = (tenders + settled) / seconds
    print(f"data: {tenders:,} card tenders of the month, {settled:,} settled rows "
          f"({checks['settled_all']:,} in all), {written:,} items written", flush=True)
    print("outcomes: " + ", ".join(f"{outcome} {count:,}" for outcome, count in checks["outcomes"]), flush=True)
    print(f"coverage: tenders with no item {checks['tenders_none']}, with more than one {checks['tenders_many']}; "
          f"settled rows of the month with no item {checks['settled_none']}, with more than one "
          f"{checks['settled_many']}; unplanted tenders or rows not plainly matched {checks['unexpected']}", flush=True)
    print("planted / found: " + ", ".join(f"{kind} {checks['planted'].get(kind, 0)}/{checks['found'].get(kind, 0)}"
                                          for kind in KINDS), flush=True)
    print(f"figures: {len(figures):,} (day, location) rows, till {sum(f.tenders for f in figures.values()):,} "
          f"processor {sum(f.settled for f in figures.values()):,} fees {sum(f.fees for f in figures.values()):,}",
          flush=True)
    print(f"reconcile: the month in {seconds:.2f} s (match_days + day_figures; commit {commit_s:.2f} s more), "
          f"{len(statements)} SQL statements ({'; '.join(' '.join(sql.split())[:24] for sql, _ in statements)}), "
          f"{rows_per_s:,.0f} rows/s (tenders + settled rows)", flush=True)
    if plan:
        print(f"EXPLAIN (ANALYZE, BUFFERS) of the matching statement, run again:\n{plan}", flush=True)
    wall = time.perf_counter() - started
    print(f"wall: {wall:.0f} s for the whole run ({ready_s:.0f} s of set-up)", flush=True)
    planted, found = sum(checks["planted"].values()), sum(checks["found"].values())
    print(f"RESULT reconcile tenders={tenders} seconds={seconds:.2f} statements={len(statements)} planted={planted} "
          f"found={found} false_matches={checks['false_matches']} unexpected={checks['unexpected']} "
          f"uncovered={checks['tenders_none'] + checks['tenders_many'] + checks['settled_none'] + checks['settled_many']} "
          f"rows_per_s={rows_per_s:.0f} items={written} commit_seconds={commit_s:.2f} "
          f"build_seconds={build_s if built else 0:.0f} wall_seconds={wall:.0f}", flush=True)
    if checks["false_matches"] or found != planted:
        raise SystemExit(1)


def verify(connection, integration_id: int, first: date, last: date, zone: str) -> dict:
    """What the run wrote, checked against how the month was built (SQL over the merchant's tables)."""
    from merchants.store.models import Sale, Tender
    from payments.store.models import ReconciliationItem, SettledTransaction

    settled, items = SettledTransaction._meta.db_table, ReconciliationItem._meta.db_table
    p = {"i": integration_id, "first": first, "last": last, "zone": zone}
    month_tenders = f"""SELECT t.id FROM {Tender._meta.db_table} t JOIN {Sale._meta.db_table} s ON s.id = t.sale_id
                       WHERE (s.completed_at AT TIME ZONE %(zone)s)::date BETWEEN %(first)s AND %(last)s"""
    checks: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(f"""SELECT count(*), count(*) FILTER (WHERE n = 0), count(*) FILTER (WHERE n > 1) FROM (
                               SELECT m.id, count(i.id) AS n FROM ({month_tenders}) m
                               LEFT JOIN {items} i
                                 ON i.tender_id = m.id AND i.pos_amount IS NOT NULL AND i.merchant_integration_id = %(i)s
                               GROUP BY m.id) x""", p)
        checks["tenders"], checks["tenders_none"], checks["tenders_many"] = cursor.fetchone()
        cursor.execute(f"""SELECT count(*), count(*) FILTER (WHERE n = 0), count(*) FILTER (WHERE n > 1) FROM (
                              SELECT s.id, count(i.id) AS n FROM {settled} s
                              LEFT JOIN {items} i ON i.settled_id = s.id
                              WHERE s.merchant_integration_id = %(i)s AND s.business_date BETWEEN %(first)s AND %(last)s
                              GROUP BY s.id) x""", p)
        checks["settled"], checks["settled_none"], checks["settled_many"] = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {settled} WHERE merchant_integration_id = %(i)s", p)
        checks["settled_all"] = cursor.fetchone()[0]
        cursor.execute(f"""SELECT outcome, count(*) FROM {items} WHERE merchant_integration_id = %(i)s
                          GROUP BY 1 ORDER BY 2 DESC""", p)
        checks["outcomes"] = cursor.fetchall()
        # Found: the item the planted discrepancy must give, with its outcome, how it matched, its tender and row.
        cursor.execute(f"""SELECT p.kind, count(*), count(*) FILTER (WHERE EXISTS (
                              SELECT FROM {items} i
                              WHERE i.merchant_integration_id = %(i)s AND i.outcome = p.outcome
                                AND i.matched_by = p.matched_by AND coalesce(i.tender_id, 0) = coalesce(p.tender_id, 0)
                                AND coalesce(i.settled_id, 0) = coalesce(p.settled_id, 0)))
                          FROM bench_reconcile.planted p GROUP BY 1""", p)
        rows = cursor.fetchall()
        checks["planted"] = {kind: planted for kind, planted, _ in rows}
        checks["found"] = {kind: found for kind, _, found in rows}
        # A false match: an item naming a tender and a settled row that were not built together.
        cursor.execute(f"""SELECT count(*) FROM {items} i
                          JOIN {settled} s ON s.id = i.settled_id
                          WHERE i.merchant_integration_id = %(i)s AND i.tender_id IS NOT NULL
                            AND s.transaction_ref NOT IN ('txn_' || i.tender_id, 'cb_' || i.tender_id)""", p)
        checks["false_matches"] = cursor.fetchone()[0]
        # Whatever nothing was planted on must be a plain match by reference.
        cursor.execute(f"""SELECT count(*) FROM {items} i
                          WHERE i.merchant_integration_id = %(i)s AND NOT (i.outcome = 'matched' AND i.matched_by = 'reference')
                            AND NOT EXISTS (SELECT FROM bench_reconcile.planted p WHERE p.tender_id = i.tender_id)
                            AND NOT EXISTS (SELECT FROM bench_reconcile.planted p WHERE p.settled_id = i.settled_id)""",
                       p)
        checks["unexpected"] = cursor.fetchone()[0]
    return checks


def explain(connection, statements: list) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the matching statement as match_days ran it, after its DELETE, rolled back."""
    from django.db import transaction

    delete_sql, delete_params = next(statement for statement in statements if statement[0].lstrip().startswith("DELETE"))
    match_sql, match_params = next(statement for statement in statements if "WITH tenders" in statement[0])
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(delete_sql, delete_params)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, SETTINGS) " + match_sql, match_params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


if __name__ == "__main__":
    main()
