"""POS sync: config pulls on the 304 path vs the full-resolve path, sustained pulls through
gunicorn with p99, upload ingest vs a bare bulk insert of the same rows, and a partner-level change
reaching 5,000 terminals.

Own database (`<name>_bench_pos`, recreated). One partner with 50 merchants × 20 locations × 5
terminals = 5,000 terminals. The fleet's merchants are rows without tenant schemas: config pulls
and the partner change never enter a merchant's schema, and 50 schemas would only slow the setup.
Uploads go to one real merchant with its schema.
Stock changes and customers are uploaded too (bench/pos_inventory.py).
Ends with RESULT pos not_modified_ratio=… pulls_per_s=… p99_ms=… ingest_per_s=… ingest_ratio=… inventory_per_s=… …
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import free_port, in_threads, recreate_database  # noqa: E402
from bench.pos_inventory import inventory_ingest  # noqa: E402

MERCHANTS, LOCATIONS, TERMINALS = 50, 20, 5  # 5,000 terminals under one partner
RATIO_TERMINALS = 1000  # terminals pulling in the 304-vs-resolve comparison
TARGET_RATE = 167  # 10,000 terminals pulling once a minute
OFFERED_SECONDS = 20
CLOSED_LOOP_SECONDS = 10
LOAD_PROCESSES = 2
INGEST_BATCHES, BATCH_SIZE = 40, 100
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4


def main() -> None:
    env = {**os.environ, "DATABASE_URL": recreate_database(os.environ["DATABASE_URL"], "_bench_pos"),
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "qiiub.settings", "DJANGO_DEBUG": "0"}
    os.environ.update(env)
    for command in (["migrate_schemas", "--shared"], ["load_registry"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    fleet = build_fleet()
    results = {}
    # Ingest first: the gunicorn load leaves thousands of terminal rows for autovacuum to tidy up
    # right when the next step would run.
    results.update(ingest(fleet))
    results.update(inventory_ingest(fleet, _wsgi_post))
    results.update(not_modified_vs_resolve(fleet))
    results.update(through_gunicorn(env, fleet))
    results.update(partner_change(fleet))
    print("RESULT pos " + " ".join(f"{key}={value}" for key, value in results.items()))


def build_fleet() -> dict:
    from devices.models import Terminal
    from merchants.models import Location, Merchant
    from merchants.services import merchant_create
    from partners.models import Partner

    started = time.perf_counter()
    partner = Partner.objects.create(name="Bench partner", slug="bench-partner")
    merchants = Merchant.objects.bulk_create([
        Merchant(name=f"Fleet {index}", slug=f"fleet-{index:03d}", schema_name=f"fleet_{index:03d}", vertical="retail",
                 partner=partner)
        for index in range(MERCHANTS)
    ])
    locations = Location.objects.bulk_create([
        Location(merchant=merchant, name=f"Store {index}", code=f"S{index:02d}")
        for merchant in merchants for index in range(LOCATIONS)
    ])
    tokens = [f"qtt_{secrets.token_urlsafe(32)}" for _ in range(len(locations) * TERMINALS)]
    Terminal.objects.bulk_create([
        Terminal(location=location, name=f"Till {index}", token_hash=hashlib.sha256(token.encode()).hexdigest())
        for position, location in enumerate(locations)
        for index, token in enumerate(tokens[position * TERMINALS:(position + 1) * TERMINALS])
    ])
    with contextlib.redirect_stdout(io.StringIO()):
        uploader = merchant_create(name="Bench uploads", slug="bench-uploads", vertical="retail",
                                   locations=[("U1", "Uploads", "San Juan")], partner=partner)
    from devices.terminals import enrollment_code_create, terminal_enroll

    _, code = enrollment_code_create(location=uploader.locations.get())
    upload_terminal, upload_token = terminal_enroll(code=code, name="Uploading till")
    print(f"fleet: {len(tokens)} terminals at {len(locations)} locations of {MERCHANTS} merchants "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    return {"partner": partner, "tokens": tokens, "upload_terminal": upload_terminal, "upload_token": upload_token}


def _wsgi_get(app, path: str, token: str, etag: str = "") -> tuple[str, dict]:
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_HOST": "127.0.0.1", "wsgi.errors": sys.stderr,
    }
    if etag:
        environ["HTTP_IF_NONE_MATCH"] = etag
    body = b"".join(app(environ, start_response))
    assert captured["status"][:3] in ("200", "304"), (captured["status"], body[:300])
    return captured["status"][:3], captured["headers"]


def not_modified_vs_resolve(fleet: dict) -> dict:
    """The same 1,000 terminals pull through the real WSGI application, in process: with their
    ETag (304) and without (full resolve). Alternating rounds so drift falls on both."""
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    tokens = fleet["tokens"][:RATIO_TERMINALS]
    etags = {token: _wsgi_get(app, "/api/pos/v1/config", token)[1]["ETag"] for token in tokens}
    timings = {"304": 0.0, "200": 0.0}
    for _round in range(3):
        for kind in ("304", "200"):
            started = time.perf_counter()
            for token in tokens:
                status, _ = _wsgi_get(app, "/api/pos/v1/config", token, etags[token] if kind == "304" else "")
                assert status == kind
            timings[kind] += time.perf_counter() - started
    pulls = 3 * len(tokens)
    not_modified, resolved = pulls / timings["304"], pulls / timings["200"]
    print(f"config pulls in process, {len(tokens)} terminals: {not_modified:.0f}/s unchanged (304), "
          f"{resolved:.0f}/s full resolve (200) → {not_modified / resolved:.1f}×", flush=True)
    return {"not_modified_ratio": f"{not_modified / resolved:.1f}", "not_modified_per_s": f"{not_modified:.0f}",
            "resolve_per_s": f"{resolved:.0f}"}


def _load(args) -> list[tuple[float, int]]:
    """One load process: keep-alive connections on threads; open loop at `rate` (latency measured
    from each request's scheduled time) or closed loop when rate is 0. Returns (latency s, status)."""
    import http.client

    port, tokens, etags, rate, seconds, threads = args
    start = time.perf_counter() + 0.2

    def run(thread_index: int) -> list:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        own = tokens[thread_index::threads]
        mine: list[tuple[float, int]] = []
        index = 0
        while True:
            if rate:
                scheduled = start + (index * threads + thread_index) / rate
                if scheduled - start > seconds:
                    break
                time.sleep(max(0.0, scheduled - time.perf_counter()))
            else:
                scheduled = time.perf_counter()
                if scheduled - start > seconds:
                    break
            token = own[index % len(own)]
            connection.request("GET", "/api/pos/v1/config",
                               headers={"Authorization": f"Bearer {token}", "If-None-Match": etags[token]})
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - scheduled, response.status))
            index += 1
        return mine

    return in_threads(threads, run)


def through_gunicorn(env: dict, fleet: dict) -> dict:
    """Pulls from every terminal through gunicorn over HTTP: most unchanged (304), and one in 20 after
    a change (200). Offered at the target rate for p99, then closed loop for the most it sustains."""
    import urllib.request

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "qiiub.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(GUNICORN_WORKERS),
         "-k", "gthread", "--threads", str(GUNICORN_THREADS), "--keep-alive", "30", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        tokens = fleet["tokens"]
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/pos/v1/config", headers={"Authorization": f"Bearer {tokens[0]}"}))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.3)
        etags = {}
        for index, token in enumerate(tokens):
            # One terminal in 20 has a stale version, so its pull resolves (a change just went out).
            etags[token] = "" if index % 20 == 0 else _etag_of(token)
        share = len(tokens) // LOAD_PROCESSES
        with multiprocessing.get_context("fork").Pool(LOAD_PROCESSES) as pool:
            offered = [item for part in pool.map(_load, [
                (port, tokens[number * share:(number + 1) * share], etags, TARGET_RATE / LOAD_PROCESSES,
                 OFFERED_SECONDS, 8) for number in range(LOAD_PROCESSES)]) for item in part]
            closed = [item for part in pool.map(_load, [
                (port, tokens[number * share:(number + 1) * share], etags, 0, CLOSED_LOOP_SECONDS, 4)
                for number in range(LOAD_PROCESSES)]) for item in part]
    finally:
        server.terminate()
        server.wait(timeout=20)
    failures = sum(status not in (200, 304) for _, status in offered + closed)
    latencies = sorted(latency for latency, _ in offered)
    p50, p99 = statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.99) - 1] * 1000
    achieved = len(offered) / OFFERED_SECONDS
    closed_rate = len(closed) / CLOSED_LOOP_SECONDS
    closed_p99 = sorted(latency for latency, _ in closed)[int(len(closed) * 0.99) - 1] * 1000
    print(f"gunicorn ({GUNICORN_WORKERS} workers × {GUNICORN_THREADS} threads), 5,000 terminals, 1 in 20 pulls "
          f"resolving: offered {TARGET_RATE}/s for {OFFERED_SECONDS} s → served {achieved:.0f}/s, p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms; closed loop {closed_rate:.0f} pulls/s (p99 {closed_p99:.1f} ms); "
          f"{failures} failed", flush=True)
    return {"pulls_per_s": f"{closed_rate:.0f}", "p99_ms": f"{p99:.1f}", "offered_per_s": str(TARGET_RATE),
            "pull_failures": str(failures)}


def _etag_of(token: str) -> str:
    from devices.pos_config import config_etag
    from devices.terminals import terminal_for_token

    return config_etag(terminal_for_token(token))


def _sale(index: int) -> dict:
    from django.utils import timezone

    return {
        "type": "sale", "client_uuid": str(uuid.uuid4()), "completed_at": timezone.now().isoformat(),
        "subtotal": "10.00", "tax_state": "1.05", "tax_municipal": "0.10", "total": "11.15",
        "lines": [{"sku": f"SKU-{index % 50}", "description": "Item", "quantity": "2", "unit_price": "3.00",
                   "line_total": "6.00"},
                  {"sku": "CAFE-1LB", "description": "Café", "quantity": "1", "unit_price": "4.00", "line_total": "4.00"}],
        "tax_lines": [{"jurisdiction": "state", "rate": "0.105", "taxable_amount": "10.00", "amount": "1.05"},
                      {"jurisdiction": "municipal", "rate": "0.01", "taxable_amount": "10.00", "amount": "0.10"}],
        "tenders": [{"kind": "cash", "amount": "5.15"},
                    {"kind": "card", "amount": "6.00", "card_brand": "visa", "card_last4": "4242", "auth_code": "OK1",
                     "entry_method": "chip", "processor_ref": "RRN-100"}],
    }


def _bare_insert(location, sales: list[dict], *, with_events: bool) -> None:
    """The same rows with nothing else: no request, no checks, no idempotency logic, by the same
    multi-row INSERTs the upload path uses, pipelined the same way (one array per column: faster
    than Django's bulk_create).
    Its RETURNING gives the sale ids; with no conflicts, ON CONFLICT costs nothing. `with_events`
    adds the outbox rows the upload writes too (one per sale, the same payload)."""
    from django.db import transaction
    from django_tenants.utils import schema_context

    from devices.pos_records import insert_rows
    from events.models import OutboxEvent
    from merchants.store.models import Sale, SaleLine, SaleTaxLine, Tender
    from qiiub.rows import insert_many, pipelined

    money = Decimal
    with transaction.atomic(), schema_context(location.merchant.schema_name), pipelined():
        ids = insert_rows(Sale, ("client_uuid", "location_code", "completed_at", "subtotal", "tax_state",
                                 "tax_municipal", "total"), [
            (sale["client_uuid"], location.code, sale["completed_at"], money(sale["subtotal"]),
             money(sale["tax_state"]), money(sale["tax_municipal"]), money(sale["total"]))
            for sale in sales
        ], idempotent=True)
        new = [(ids[sale["client_uuid"]], sale) for sale in sales]
        insert_rows(SaleLine, ("sale_id", "sku", "description", "quantity", "unit_price", "line_total", "tax_category",
                               "rx_key"), [
            (sale_id, line["sku"], line["description"], money(line["quantity"]), money(line["unit_price"]),
             money(line["line_total"]), "standard", "") for sale_id, sale in new for line in sale["lines"]])
        insert_rows(SaleTaxLine, ("sale_id", "jurisdiction", "rate", "taxable_amount", "amount"), [
            (sale_id, tax["jurisdiction"], money(tax["rate"]), money(tax["taxable_amount"]), money(tax["amount"]))
            for sale_id, sale in new for tax in sale["tax_lines"]])
        columns = ("kind", "amount", "card_brand", "card_last4", "auth_code", "processor_ref", "entry_method",
                   "reference")
        insert_rows(Tender, ("sale_id", *columns), [
            (sale_id, *(money(tender[column]) if column == "amount" else tender.get(column, "")
                        for column in columns))
            for sale_id, sale in new for tender in sale["tenders"]])
        if with_events:
            insert_many(OutboxEvent, ("id", "event_type", "merchant_id", "location_id", "payload", "created_at"), [
                (uuid.uuid4(), "sale.completed", location.merchant_id, location.pk, json.dumps({
                    "sale_id": sale["client_uuid"], "location": location.code, "completed_at": sale["completed_at"],
                    "total": sale["total"], "tax_state": sale["tax_state"], "tax_municipal": sale["tax_municipal"],
                    "tenders": [{"kind": tender["kind"], "amount": tender["amount"]} for tender in sale["tenders"]],
                }), sale["completed_at"])
                for sale in sales])


def ingest(fleet: dict) -> dict:
    """Uploads of 100 sales through the WSGI application (JSON, token, card guard, checks, idempotent
    writes, outbox events) vs the same rows bulk-inserted bare, with and without their event rows.
    Alternating rounds, the same sales shape."""
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    terminal, token = fleet["upload_terminal"], fleet["upload_token"]
    location = terminal.location
    timings = {"upload": 0.0, "bare": 0.0, "bare_events": 0.0}
    for _batch in range(INGEST_BATCHES):
        body = json.dumps({"records": [_sale(index) for index in range(BATCH_SIZE)]}).encode()
        started = time.perf_counter()
        status = _wsgi_post(app, "/api/pos/v1/uploads", token, body)
        timings["upload"] += time.perf_counter() - started
        assert status.startswith("200"), status
        for kind in ("bare", "bare_events"):
            sales = [_sale(index) for index in range(BATCH_SIZE)]
            started = time.perf_counter()
            _bare_insert(location, sales, with_events=kind == "bare_events")
            timings[kind] += time.perf_counter() - started
    rate = {kind: INGEST_BATCHES * BATCH_SIZE / seconds for kind, seconds in timings.items()}
    # Idempotency: the same batch again stores nothing.
    repeat = json.dumps({"records": [_sale(index) for index in range(BATCH_SIZE)]}).encode()
    _wsgi_post(app, "/api/pos/v1/uploads", token, repeat)
    started = time.perf_counter()
    _wsgi_post(app, "/api/pos/v1/uploads", token, repeat)
    duplicate_rate = BATCH_SIZE / (time.perf_counter() - started)
    ratio, business_only = rate["upload"] / rate["bare_events"], rate["upload"] / rate["bare"]
    print(f"ingest, batches of {BATCH_SIZE} sales (2 lines, 2 IVU lines, 2 tenders each): {rate['upload']:.0f} records/s "
          f"through the API with checks, idempotency and events; bare bulk insert of the same rows "
          f"{rate['bare_events']:.0f}/s with their event rows → {ratio:.2f}×, {rate['bare']:.0f}/s without → "
          f"{business_only:.2f}×; a repeated batch {duplicate_rate:.0f} records/s", flush=True)
    return {"ingest_per_s": f"{rate['upload']:.0f}", "ingest_bare_per_s": f"{rate['bare_events']:.0f}",
            "ingest_ratio": f"{ratio:.2f}", "ingest_ratio_without_event_rows": f"{business_only:.2f}"}


def _wsgi_post(app, path: str, token: str, body: bytes) -> str:
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status

    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_HOST": "127.0.0.1",
        "wsgi.errors": sys.stderr,
    }
    b"".join(app(environ, start_response))
    return captured["status"]


def partner_change(fleet: dict) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from devices import cascade
    from devices.models import Terminal

    reached = Terminal.objects.filter(location__merchant__partner=fleet["partner"]).count()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        cascade.setting_value_set(key="pos.receipt.footer", owner=fleet["partner"], value="Nuevo pie de recibo")
    elapsed = time.perf_counter() - started
    print(f"partner-level change reaching {reached} terminals: {len(queries)} statements in {elapsed * 1000:.0f} ms",
          flush=True)
    return {"partner_change_terminals": str(reached), "partner_change_statements": str(len(queries)),
            "partner_change_ms": f"{elapsed * 1000:.0f}"}


if __name__ == "__main__":
    main()
