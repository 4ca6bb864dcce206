"""Card data discovery at scale: a full scan of a database holding 1,000,000 rows of POS data and
events, with card numbers planted in a few of them; every planted one must be found and nothing else.

Own database (`<name>_bench_card_scan`, recreated). One merchant schema holds 100,000 sales with
6 lines each (descriptions, SKUs, some with barcodes) and their tenders; the public schema holds
100,000 events (sale.completed payloads) and 100,000 delivery attempts with error texts. Rows are
written by SQL (`generate_series`), since the bench measures the scan, not the writes.
BENCH_CARD_SCAN_SALES changes the number of sales (rows scale with it).
Ends with RESULT card_scan rows=… seconds=… rows_per_s=… hits=… planted=… redact_seconds=…
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import recreate_database  # noqa: E402

SALES = int(os.environ.get("BENCH_CARD_SCAN_SALES", "100000"))
LINES_PER_SALE = 6
PLANTED_PER_TABLE = 25


def main() -> None:
    env = {**os.environ, "DATABASE_URL": recreate_database(os.environ["DATABASE_URL"], "_bench_card_scan"),
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "qiiub.settings", "DJANGO_DEBUG": "0"}
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate_schemas", "--shared"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    import django

    django.setup()
    from django.db import connection

    from compliance.scan import card_data_scan

    started = time.perf_counter()
    schema, planted = fill()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    rows = count_rows(schema)
    print(f"filled {rows:,} rows in {time.perf_counter() - started:.0f} s; {planted} card numbers planted", flush=True)

    started = time.perf_counter()
    scan = card_data_scan(requested_by="bench")
    seconds = time.perf_counter() - started
    print(f"scan: {seconds:.1f} s, {rows / seconds:,.0f} rows/s, {scan.hit_count} found in {scan.tables_scanned} tables",
          flush=True)
    started = time.perf_counter()
    redacted = card_data_scan(redact=True, requested_by="bench")
    redact_seconds = time.perf_counter() - started
    again = card_data_scan(requested_by="bench")
    print(f"scan with redact: {redact_seconds:.1f} s, {redacted.hit_count} masked; a scan after it finds {again.hit_count}",
          flush=True)
    if scan.hit_count != planted or redacted.hit_count != planted or again.hit_count:
        raise SystemExit(f"expected {planted} hits, then 0 after redacting; got {scan.hit_count}, {again.hit_count}")
    print(f"RESULT card_scan rows={rows} seconds={seconds:.1f} rows_per_s={rows / seconds:.0f} hits={scan.hit_count} "
          f"planted={planted} redact_seconds={redact_seconds:.1f}")


def fill() -> tuple[str, int]:
    from django.db import connection

    from merchants.models import Vertical
    from merchants.services import merchant_create
    from qiiub.card_guard import luhn_valid

    merchant = merchant_create(name="Colmado Escala", slug="escala", vertical=Vertical.RETAIL,
                               locations=[("SJ1", "San Juan", "San Juan")])
    schema = merchant.schema_name
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {schema}.store_sale (client_uuid, location_code, completed_at, subtotal, tax_state,
                                             tax_municipal, total)
            SELECT gen_random_uuid(), 'SJ1', now() - (n || ' seconds')::interval, 10, 1.05, 0.10, 11.15
              FROM generate_series(1, %s) AS n""", [SALES])
        # Descriptions as tills send them: names, sizes, sometimes a 12-13 digit barcode and a quantity.
        cursor.execute(f"""
            INSERT INTO {schema}.store_saleline (sale_id, sku, description, quantity, unit_price, line_total,
                                                 tax_category)
            SELECT s.id, 'SKU-' || mod(s.id * 7 + l, 5000),
                   (ARRAY['Café Yaucono 1 lb', 'Arroz Rico 5 lb', 'Aspirina 100 tabs', 'Pan sobao'])[1 + mod(s.id + l, 4)]
                   || CASE WHEN mod(s.id + l, 5) = 0 THEN ' ' || lpad(mod(s.id * 7919 + l, 1000000000000)::text, 12, '0')
                           ELSE '' END,
                   1, 2.50, 2.50, 'standard'
              FROM {schema}.store_sale s CROSS JOIN generate_series(1, %s) AS l""", [LINES_PER_SALE])
        cursor.execute(f"""
            INSERT INTO {schema}.store_tender (sale_id, kind, amount, card_brand, card_last4, auth_code, processor_ref,
                                               entry_method, reference)
            SELECT id, 'card', 11.15, 'visa', lpad(mod(id, 10000)::text, 4, '0'), 'A' || mod(id, 100000),
                   lpad(mod(id * 104729, 1000000000000)::text, 12, '0'), 'chip', ''
              FROM {schema}.store_sale""")
        cursor.execute("""
            INSERT INTO integrations_outboxevent (id, event_type, merchant_id, payload, created_at, relayed_at)
            SELECT gen_random_uuid(), 'sale.completed', %s,
                   jsonb_build_object('sale_id', gen_random_uuid(), 'location', 'SJ1', 'total', '11.15',
                                      'completed_at', to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                      'lines', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || mod(n, 5000),
                                               'description', 'Arroz Rico 5 lb', 'quantity', '1')),
                                      'tenders', jsonb_build_array(jsonb_build_object('kind', 'card',
                                               'card_last4', lpad(mod(n, 10000)::text, 4, '0')))),
                   now(), now()
              FROM generate_series(1, %s) AS n""", [merchant.pk, SALES])
        cursor.execute("""
            INSERT INTO integrations_eventdelivery (event_id, merchant_id, subscriber_kind, subscriber_key, status,
                                                    attempts, max_attempts, last_error, created_at, updated_at)
            SELECT id, merchant_id, 'analytics', 'analytics', 'succeeded', 1, 5, '', now(), now()
              FROM integrations_outboxevent""")
        cursor.execute("""
            INSERT INTO integrations_deliveryattempt (delivery_id, number, succeeded, error, duration_ms,
                                                      response_excerpt, attempted_at)
            SELECT id, 1, false, 'HTTP 503 from the receiver at ' || to_char(now(), 'YYYY-MM-DD HH24:MI:SS'), 120,
                   '', now()
              FROM integrations_eventdelivery""")
    return schema, plant(schema, luhn_valid)


def plant(schema: str, luhn_valid) -> int:
    """A few card numbers in each table kind, in different groupings."""
    from django.db import connection

    rng = random.Random(6)

    def card() -> str:
        prefix, length = rng.choice([("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("4", 13)])
        body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
        return next(body + digit for digit in "0123456789" if luhn_valid(body + digit))

    targets = [
        (f"{schema}.store_saleline", "description", "'Pago ' || %s"),
        (f"{schema}.store_tender", "processor_ref", "%s"),
        ("integrations_deliveryattempt", "error", "'receiver: ' || %s"),
        ("integrations_outboxevent", "payload", "jsonb_set(payload, '{note}', to_jsonb(%s::text))"),
    ]
    planted = 0
    with connection.cursor() as cursor:
        for table, column, expression in targets:
            cursor.execute(f"SELECT id FROM {table} ORDER BY random() LIMIT %s", [PLANTED_PER_TABLE])
            for (row_id,) in cursor.fetchall():
                number = card()
                value = rng.choice([number, f"{number[:6]} {number[6:]}", "-".join(number[i:i + 4] for i in (0, 4, 8, 12))])
                cursor.execute(f"UPDATE {table} SET {column} = {expression} WHERE id = %s", [value, row_id])
                planted += 1
    return planted


def count_rows(schema: str) -> int:
    from django.db import connection

    tables = [f"{schema}.store_sale", f"{schema}.store_saleline", f"{schema}.store_tender", "integrations_outboxevent",
              "integrations_eventdelivery", "integrations_deliveryattempt"]
    with connection.cursor() as cursor:
        cursor.execute(" + ".join(f"(SELECT count(*) FROM {table})" for table in tables).join(["SELECT ", ""]))
        return cursor.fetchone()[0]


if __name__ == "__main__":
    main()
