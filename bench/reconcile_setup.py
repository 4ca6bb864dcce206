"""The reconciliation benchmark's month, built once into a template database (bench/reconcile.py copies it).

One chain (`bench-recon`, America/Puerto_Rico) with `stores` locations S0001…, its schema made by the normal
services, and a Stripe integration (active; nothing is fetched, so no credentials). For each store and day,
`per_day` card sales with one card tender each (`pi_<n>`), and the processor's side as the settlement fetch
would have stored it: one settled row per tender (a few minutes later, its business date the sale's local date,
fee 2.9 % + 0.30). About 1 % of the slots each plant one discrepancy:

    amount_mismatch  the settled gross differs                          → amount_mismatch (reference)
    pos_only         the settled row is missing                         → pos_only
    processor_only   an extra settled sale (`pi_x<n>`) no tender has    → processor_only
    other_day        sold at 23:5x, settled after midnight (next day)   → other_day (reference)
    auth             the tender has no reference; same auth/last 4/amt  → matched (auth)
    voided           the settled row is a void of the tender's payment  → voided (reference)
    refunded         the slot is a POS return (−amount, `re_<n>`), the processor's refund `re_<n>` → refunded
    chargeback       a dispute `dp_<n>` on the sale's `pi_<n>` besides its sale row → chargeback (its tender)

Written set-based (INSERT … SELECT over generate_series): 1.5 M sales, tenders and settled rows in under a
minute. Every settled row says which tender it was built with in its transaction_ref (`txn_<tender id>`,
`cb_<tender id>`, `extra_<n>`), and `bench_reconcile.planted` holds each planted discrepancy with the item it
must produce; `bench_reconcile.setup` the key, the sizes and the ids. Run as
`python bench/reconcile_setup.py --stores N --days D --per-day P --first YYYY-MM-DD --key K` with DATABASE_URL
the fresh database to fill (bench/reconcile.py does).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`

SLUG = "bench-recon"
ZONE = "America/Puerto_Rico"
KINDS = ("amount_mismatch", "pos_only", "processor_only", "other_day", "auth", "voided", "refunded", "chargeback")

# The month's slots: slot n is store (n / per_day) % stores, day n / (per_day * stores); tender id = sale id = n + 1.
# 1 % of the slots each plant one kind (a hash of n picks it); other_day never on the last day (its settled row
# would fall after the month's neighbour day).
PLAN_SQL = """
CREATE UNLOGGED TABLE bench_reconcile.plan AS
SELECT n, n + 1 AS tender_id, code, first_day + day AS sold_on, kind, lpad(n::text, 10, '0') AS ref,
       CASE kind WHEN 'refunded' THEN -amount ELSE amount END AS amount,
       upper(substr(md5('auth:' || n), 1, 6)) AS auth, lpad((abs(hashtext('last4:' || n)::bigint) %% 10000)::text, 4, '0') AS last4,
       (CASE WHEN kind = 'other_day' THEN (first_day + day) + interval '23 hours 50 minutes' + (n %% 540) * interval '1 second'
             ELSE (first_day + day) + interval '8 hours' + (slot * 50400 / %(per_day)s + n %% 37) * interval '1 second'
        END) AT TIME ZONE %(zone)s AS at
FROM (
    SELECT n, n %% %(per_day)s AS slot, 'S' || lpad(((n / %(per_day)s) %% %(stores)s + 1)::text, 4, '0') AS code,
           (n / (%(per_day)s * %(stores)s))::int AS day, %(first)s::date AS first_day,
           ((300 + abs(hashtext('amount:' || n)::bigint) %% 20000) / 100.0)::numeric(12, 2) AS amount,
           CASE abs(hashtext('plant:' || n)::bigint) %% 100
               WHEN 0 THEN 'amount_mismatch' WHEN 1 THEN 'pos_only' WHEN 2 THEN 'processor_only'
               WHEN 3 THEN CASE WHEN n / (%(per_day)s * %(stores)s) < %(days)s - 1 THEN 'other_day' END
               WHEN 4 THEN 'auth' WHEN 5 THEN 'voided' WHEN 6 THEN 'refunded' WHEN 7 THEN 'chargeback'
           END AS kind
    FROM generate_series(0, %(slots)s - 1) n
) g
"""

SALES_SQL = """
INSERT INTO {sale} (id, client_uuid, location_code, terminal_id, completed_at, subtotal, tax_state, tax_municipal,
                        total)
SELECT tender_id, md5('sale:' || n)::uuid, code, NULL, at, subtotal, round(subtotal * 0.105, 2),
       amount - subtotal - round(subtotal * 0.105, 2), amount
FROM (SELECT *, round(amount / 1.115, 2) AS subtotal FROM bench_reconcile.plan) p ORDER BY n
"""

TENDERS_SQL = """
INSERT INTO {tender} (id, sale_id, kind, amount, card_brand, card_last4, auth_code, processor_ref, entry_method,
                          reference)
SELECT tender_id, tender_id, 'card', amount, 'visa', last4, CASE kind WHEN 'refunded' THEN '' ELSE auth END,
       CASE kind WHEN 'auth' THEN '' WHEN 'refunded' THEN 're_' || ref ELSE 'pi_' || ref END, 'chip', ''
FROM bench_reconcile.plan ORDER BY n
"""

SETTLED_COLUMNS = """{settled} (merchant_integration_id, business_date, transaction_ref, processor_ref,
    original_ref, kind, gross, fee, net, transacted_at, auth_code, card_last4, card_brand, terminal, payout_ref)"""

# Each tender's own row (none for pos_only), then the extra sales at the processor only, then the disputes.
SETTLED_SQL = """
INSERT INTO {settled_columns}
SELECT %(integration)s, (settled_at AT TIME ZONE %(zone)s)::date, 'txn_' || tender_id,
       CASE kind WHEN 'refunded' THEN 're_' ELSE 'pi_' END || ref,
       CASE kind WHEN 'refunded' THEN 'pi_' || lpad((n + 1)::text, 10, '0') ELSE '' END,
       CASE kind WHEN 'voided' THEN 'void' WHEN 'refunded' THEN 'refund' ELSE 'sale' END,
       gross, fee, gross - fee, settled_at, CASE kind WHEN 'refunded' THEN '' ELSE auth END, last4, 'visa', code,
       'po_' || to_char((settled_at AT TIME ZONE %(zone)s)::date, 'YYYYMMDD')
FROM (SELECT *, CASE WHEN kind IN ('voided', 'refunded') THEN 0 ELSE round(gross * 0.029 + 0.30, 2) END AS fee
      FROM (SELECT p.*, CASE kind WHEN 'voided' THEN 0 WHEN 'amount_mismatch' THEN amount + (1 + n %% 500) / 100.0
                                  ELSE amount END AS gross,
                   at + CASE kind WHEN 'other_day' THEN interval '15 minutes' ELSE (2 + n %% 5) * interval '1 minute'
                        END AS settled_at
            FROM bench_reconcile.plan p WHERE kind IS DISTINCT FROM 'pos_only') s) f
ORDER BY n;
INSERT INTO {settled_columns}
SELECT %(integration)s, ((at + interval '30 minutes') AT TIME ZONE %(zone)s)::date, 'extra_' || n, 'pi_x' || ref, '',
       'sale', amount + 1, round((amount + 1) * 0.029 + 0.30, 2), amount + 1 - round((amount + 1) * 0.029 + 0.30, 2),
       at + interval '30 minutes', 'X' || upper(substr(md5('xauth:' || n), 1, 5)), last4, 'visa', code,
       'po_' || to_char(sold_on, 'YYYYMMDD')
FROM bench_reconcile.plan WHERE kind = 'processor_only' ORDER BY n;
INSERT INTO {settled_columns}
SELECT %(integration)s, ((at + interval '1 hour') AT TIME ZONE %(zone)s)::date, 'cb_' || tender_id, 'dp_' || ref,
       'pi_' || ref, 'chargeback', -amount, 15.00, -amount - 15.00, at + interval '1 hour', '', last4, 'visa', '',
       'po_' || to_char(sold_on, 'YYYYMMDD')
FROM bench_reconcile.plan WHERE kind = 'chargeback' ORDER BY n
"""

# What each planted discrepancy must come to: the item's outcome, how it matched, its tender and settled row.
PLANTED_SQL = """
CREATE TABLE bench_reconcile.planted (kind text NOT NULL, tender_id bigint, settled_id bigint, outcome text NOT NULL,
                                      matched_by text NOT NULL);
INSERT INTO bench_reconcile.planted
SELECT p.kind, CASE WHEN p.kind = 'processor_only' THEN NULL ELSE p.tender_id END, s.id,
       CASE p.kind WHEN 'auth' THEN 'matched' ELSE p.kind END,
       CASE WHEN p.kind IN ('pos_only', 'processor_only', 'chargeback') THEN '' WHEN p.kind = 'auth' THEN 'auth'
            ELSE 'reference' END
FROM bench_reconcile.plan p
LEFT JOIN {settled} s ON s.merchant_integration_id = %(integration)s AND s.transaction_ref =
    CASE p.kind WHEN 'processor_only' THEN 'extra_' || p.n WHEN 'chargeback' THEN 'cb_' || p.tender_id
                ELSE 'txn_' || p.tender_id END
WHERE p.kind IS NOT NULL
"""


def build(*, stores: int, days: int, per_day: int, first: date, key: str) -> None:
    """Fill this process's DATABASE_URL (fresh) with the public schema, the registry, the chain and its month."""
    started = time.perf_counter()
    for command in (["migrate_schemas", "--shared"], ["load_registry"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection
    from django_tenants.utils import schema_context

    from integrations.models import IntegrationDefinition, MerchantIntegration, Status
    from merchants.services import merchant_create
    from merchants.store.models import Sale, Tender
    from payments.store.models import ReconciliationItem, SettledTransaction

    with contextlib.redirect_stdout(io.StringIO()):  # django-tenants prints every migration
        merchant = merchant_create(name="Bench Reconcile Chain", slug=SLUG, vertical="retail",
                                   locations=[(f"S{store:04d}", f"Store {store}", "San Juan")
                                              for store in range(1, stores + 1)])
    assert merchant.time_zone == ZONE, merchant.time_zone
    integration = MerchantIntegration.objects.create(
        merchant=merchant, definition=IntegrationDefinition.objects.get(code="payments.stripe"), status=Status.ACTIVE)
    print(f"set-up: merchant {merchant.schema_name} with {stores} stores in {time.perf_counter() - started:.0f} s",
          flush=True)
    params = {"stores": stores, "days": days, "per_day": per_day, "slots": stores * days * per_day,
              "first": first, "zone": ZONE, "integration": integration.pk}
    settled = SettledTransaction._meta.db_table
    tables = {"sale": Sale._meta.db_table, "tender": Tender._meta.db_table, "settled": settled,
              "settled_columns": SETTLED_COLUMNS.format(settled=settled)}
    with schema_context(merchant.schema_name), connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA bench_reconcile")
        for what, sql in (("plan", PLAN_SQL), ("sales", SALES_SQL), ("tenders", TENDERS_SQL),
                          ("settled rows", SETTLED_SQL), ("ground truth", PLANTED_SQL)):
            step = time.perf_counter()
            for statement in sql.format(**tables).split(";\n"):
                cursor.execute(statement, params if "%(" in statement else None)
            print(f"set-up: {what} in {time.perf_counter() - step:.1f} s", flush=True)
        for table in (tables["sale"], tables["tender"]):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        cursor.execute("DROP TABLE bench_reconcile.plan")
        step = time.perf_counter()
        # What autovacuum would have done to a month of rows: statistics and the visibility map.
        cursor.execute(f"VACUUM ANALYZE {tables['sale']}, {tables['tender']}, {settled}, "
                       f"{ReconciliationItem._meta.db_table}")
        print(f"set-up: vacuum analyze in {time.perf_counter() - step:.1f} s", flush=True)
        cursor.execute("""CREATE TABLE bench_reconcile.setup (key text NOT NULL, stores integer NOT NULL,
                          days integer NOT NULL, per_day integer NOT NULL, first_day date NOT NULL,
                          merchant_id bigint NOT NULL, integration_id bigint NOT NULL, build_s double precision NOT NULL,
                          built_at timestamptz NOT NULL DEFAULT now())""")
        cursor.execute("INSERT INTO bench_reconcile.setup VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                       [key, stores, days, per_day, first, merchant.pk, integration.pk, time.perf_counter() - started])
    # The build's own queue: whatever the set-up's commits queued has no worker to run it.
    redis.Redis.from_url(settings.REDIS_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    print(f"set-up: built in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Build the reconciliation benchmark's template (DATABASE_URL).")
    parser.add_argument("--stores", type=int, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--per-day", type=int, required=True)
    parser.add_argument("--first", type=date.fromisoformat, required=True)
    parser.add_argument("--key", required=True)
    arguments = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qiiub.settings")
    build(stores=arguments.stores, days=arguments.days, per_day=arguments.per_day, first=arguments.first,
          key=arguments.key)
