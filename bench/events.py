"""Event bus throughput: sales uploaded as terminals upload them, through
`devices.uploads.upload_ingest` (the service behind `POST /api/pos/v1/uploads`: card guard, record
checks, sales + lines + tenders in the merchant's schema and their outbox rows in one transaction),
in batches of the `pos.sync.upload_batch_size` default (terminals queue sales and send them in
batches), delivered by real Celery workers to the demo simulator over HTTP, against a baseline of
bare Celery tasks doing the same POSTs with no outbox; and the cost of publishing one sale
(business write + outbox row vs the business write alone).

Own database (`<name>_bench_events`, recreated). `--merchants` (200) × 3 subscriptions (the two
sandbox ledgers on the demo connector, tests/sandbox_vendors.py; analytics), `--events` sales (20,000) from 4 upload streams, one enrolled terminal per merchant, BENCH_UPLOAD_BATCH
sales per upload (default: what the terminals' configuration says); 3 worker processes with
4 threads each (BENCH_WORKERS / BENCH_WORKER_POOL / BENCH_WORKER_CONCURRENCY / BENCH_WORKER_ARGS to
vary them; the baseline runs on the same workers). Ends with
RESULT events events_per_s=… baseline_per_s=… ratio=… publish_overhead=… p50_ms=… p99_ms=… messages_per_event=…
drain_events_per_s=… (the delivery side alone, once publishing stopped) upload_batch=…
steady_p50_ms=… steady_p99_ms=… (latency with sales arriving steadily, not in a burst)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import free_port, recreate_database  # noqa: E402

# Event workers as we would run them: a delivery mostly waits on HTTP, so a few threads per
# process, and more processes than cores (no prefork parent shuttling each message to a child).
# The best of those tried for the outbox path (docs/capacity.md); the baseline runs on the same.
WORKERS = int(os.environ.get("BENCH_WORKERS", "3"))
WORKER_POOL = os.environ.get("BENCH_WORKER_POOL", "threads")
WORKER_CONCURRENCY = os.environ.get("BENCH_WORKER_CONCURRENCY", "4")
PUBLISHERS = int(os.environ.get("BENCH_PUBLISHERS", "4"))  # concurrent upload streams
UPLOAD_BATCH = os.environ.get("BENCH_UPLOAD_BATCH")  # sales per upload; unset: what terminals are told
# The steady phase: sales per second (well below what the 2 cores deliver), per upload, in all.
STEADY_RATE, STEADY_UPLOAD, STEADY_SALES = 50, 5, 1000
SUBSCRIPTIONS = 3  # per merchant, so deliveries per event: the two sandbox ledgers and analytics


def sale(index: int) -> dict:
    from django.utils import timezone

    return {
        "type": "sale", "client_uuid": str(uuid.uuid4()), "completed_at": timezone.now().isoformat(), "subtotal": "10.00", "tax_state": "1.05",
        "tax_municipal": "0.10", "total": "11.15",
        "lines": [
            {"sku": f"SKU-{index % 50}", "description": "Item", "quantity": "2", "unit_price": "3.00", "line_total": "6.00"},
            {"sku": "CAFE-1LB", "description": "Café", "quantity": "1", "unit_price": "4.00", "line_total": "4.00"},
        ],
        "tenders": [{"kind": "cash", "amount": "5.15"},
                    {"kind": "card", "amount": "6.00", "card_brand": "visa", "card_last4": "4242", "auth_code": "OK1",
                     "entry_method": "contactless"}],
    }


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--overhead-samples", type=int, default=1000)
    args = parser.parse_args()

    sim_port = free_port()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": recreate_database(os.environ["DATABASE_URL"], "_bench_events"),
        "DEMO_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "CELERY_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "0",  # as deployed: debug mode keeps every query in memory and times it
        "DJANGO_SETTINGS_MODULE": "qiiub.settings",
    }
    os.environ.update(env)
    for command in (["migrate_schemas", "--shared"], ["load_registry"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    processes = [subprocess.Popen([sys.executable, "-m", "simulators.demo", "--port", str(sim_port)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL)]
    try:
        run(args, env, queue, processes, sim_port)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def run(args, env, queue, processes, sim_port) -> None:
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection, connections
    from django.utils import timezone

    from bench.baseline import DONE_KEY, post
    from devices.cascade import resolve
    from devices.sales import sale_record, write_sale
    from devices.terminals import enrollment_code_create, terminal_enroll
    from devices.uploads import upload_ingest
    from events.bus import SEND_BATCH
    from events.models import OutboxEvent
    from events.tasks import sweep_outbox
    from integrations.models import IntegrationDefinition
    from integrations.services import configuring, enabling, transitions
    from merchants.services import merchant_create
    from qiiub.celery import app
    from tests.sandbox_vendors import SANDBOX_CODES, sandbox_definitions

    wait_until(lambda: _answers(f"http://127.0.0.1:{sim_port}/health"), 10, "the simulator")
    started = time.perf_counter()
    merchants = []
    for index in range(args.merchants):
        with contextlib.redirect_stdout(io.StringIO()):
            merchants.append(merchant_create(name=f"Bench {index}", slug=f"bench-ev-{index:04d}", vertical="retail",
                                             locations=[("L1", "Main", "San Juan")]))
    print(f"{args.merchants} merchants created in {time.perf_counter() - started:.0f} s", flush=True)
    locations = {merchant.pk: merchant.locations.get() for merchant in merchants}
    terminals = [terminal_enroll(code=enrollment_code_create(location=locations[merchant.pk])[1], name="Register 1")[0]
                 for merchant in merchants]
    # What the terminals' resolved configuration tells them (the same at every location here).
    upload_batch = int(UPLOAD_BATCH or resolve(terminals[0].location)["pos.sync.upload_batch_size"].value)
    tokens = {}
    sandbox_definitions()
    for merchant in merchants:
        for code in SANDBOX_CODES:
            integration = enabling.merchant_integration_enable(
                merchant=merchant, definition=IntegrationDefinition.objects.get(code=code), by=None)
            token = f"bench-{merchant.pk}-{code}"
            tokens.setdefault(merchant.pk, token)
            integration = configuring.merchant_integration_set_credentials(
                integration=integration, credentials={"access_token": token}, by=None)
            configuring.merchant_integration_test_connection(integration=integration, by=None)
            transitions.merchant_integration_activate(integration=integration, by=None)

    # The cost of publishing, with nobody consuming: the same sales with and without the outbox row.
    app.conf.task_default_queue = f"{queue}-unconsumed"
    # Alternating rounds, so drift (autovacuum, checkpoints, caches warming) falls on both sides.
    samples, rounds = args.overhead_samples, 10
    timings = {write_sale: 0.0, sale_record: 0.0}
    for round_number in range(rounds):
        for write in (write_sale, sale_record):
            started = time.perf_counter()
            for index in range(round_number * samples // rounds, (round_number + 1) * samples // rounds):
                merchant = merchants[index % len(merchants)]
                write(merchant=merchant, location=locations[merchant.pk], sale=sale(index))
            timings[write] += time.perf_counter() - started
    bare_s, outbox_s = timings[write_sale], timings[sale_record]
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete(f"{queue}-unconsumed")
    with connection.cursor() as cursor:
        for table in ("deliveryattempt", "eventdelivery", "outboxevent", "eventdailycount"):
            cursor.execute(f"DELETE FROM integrations_{table}")
    overhead = outbox_s / bare_s
    print(f"publish: {samples / bare_s:.0f} sales/s bare, {samples / outbox_s:.0f} sales/s with outbox "
          f"(overhead {overhead:.2f}x)", flush=True)

    # End to end through the outbox and a real worker.
    app.conf.task_default_queue = queue
    logs = ROOT / ".run"
    logs.mkdir(exist_ok=True)
    for number in range(WORKERS):
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "qiiub", "worker", "-Q", queue, "-c", WORKER_CONCURRENCY,
             "-P", WORKER_POOL, "-l", "warning", "-n", f"bench{number}@%h", "--without-mingle", "--without-gossip",
             "-I", "bench.baseline", *os.environ.get("BENCH_WORKER_ARGS", "").split()],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(logs / f"bench-worker{number}.log", "w"),
        ))
    time.sleep(3)
    # POS upload streams, each a process of its own with its own database connection, as the upload
    # API's server processes would be (threads of one process would share one interpreter lock).
    connections.close_all()
    _PUBLISHING.update(terminals=terminals, events=args.events, batch=upload_batch)
    started = time.perf_counter()
    streams = [multiprocessing.get_context("fork").Process(target=_publish_share, args=(share,))
               for share in range(PUBLISHERS)]
    for stream in streams:
        stream.start()
    for stream in streams:
        stream.join()
    if any(stream.exitcode for stream in streams):
        raise SystemExit("a publishing stream failed")
    published_s = time.perf_counter() - started
    published_at = timezone.now()
    expected = args.events * SUBSCRIPTIONS

    polls = iter(range(10**9))

    def succeeded() -> int:
        if next(polls) % 20 == 19:
            sweep_outbox.delay()  # what beat does every 30 s in production, here every ~10 s
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM integrations_eventdelivery WHERE status = 'succeeded'")
            return cursor.fetchone()[0]

    wait_until(lambda: succeeded() >= expected, 1800, "every delivery")  # polled every 0.5 s
    elapsed = time.perf_counter() - started
    events_per_s = args.events / elapsed
    p50, p99 = _latency_percentiles(since=None)
    with connection.cursor() as cursor:
        # What a bus carries per event: one message per attempt at an external subscriber (the
        # analytics sink runs inside the fan-out). docs/capacity.md turns this into a cost.
        cursor.execute("SELECT sum(attempts) FROM integrations_eventdelivery WHERE subscriber_kind <> 'analytics'")
        messages_per_event = cursor.fetchone()[0] / args.events
        # The delivery side alone: its rate once the sales stopped competing for the same cores.
        cursor.execute(
            """SELECT count(*), extract(epoch FROM max(succeeded_at) - %s) FROM integrations_eventdelivery
               WHERE subscriber_kind <> 'analytics' AND succeeded_at > %s""", [published_at, published_at])
        drained, drain_s = cursor.fetchone()
        drain_per_s = drained / 2 / float(drain_s) if drained and drain_s else 0.0
    print(f"outbox: {args.events} sales uploaded {upload_batch} per upload in {published_s:.1f} s; all {expected} deliveries in "
          f"{elapsed:.1f} s → {events_per_s:.0f} events/s, latency p50 {p50:.0f} ms p99 {p99:.0f} ms, "
          f"{messages_per_event:.2f} bus messages per event", flush=True)
    print(f"drain: {drain_per_s:.0f} events/s delivered once publishing had stopped "
          f"(while the 4 streams wrote sales, the same 2 cores served them first)", flush=True)

    # Latency without a backlog: sales arriving steadily well below capacity, as tills send them
    # through a day, rather than the burst above (whose latency is mostly the time in the queue).
    steady_since = timezone.now()
    steady_started, uploads = time.perf_counter(), STEADY_SALES // STEADY_UPLOAD
    for number in range(uploads):
        time.sleep(max(0.0, steady_started + number * STEADY_UPLOAD / STEADY_RATE - time.perf_counter()))
        upload_ingest(terminal=terminals[number % len(terminals)],
                      body={"records": [sale(index) for index in range(STEADY_UPLOAD)]})
    wait_until(lambda: succeeded() >= expected + SUBSCRIPTIONS * STEADY_SALES, 300, "the steady deliveries")
    steady_p50, steady_p99 = _latency_percentiles(since=steady_since)
    print(f"steady: {STEADY_SALES} sales at {STEADY_RATE}/s in uploads of {STEADY_UPLOAD}: publish-to-delivery "
          f"p50 {steady_p50:.0f} ms p99 {steady_p99:.0f} ms", flush=True)

    # Baseline: bare tasks doing the same two POSTs per event, with the same body a delivery sends.
    broker.delete(DONE_KEY)
    payload = OutboxEvent.objects.filter(event_type="sale.completed").values_list("payload", flat=True).first()
    url = f"http://127.0.0.1:{sim_port}/v1/events"
    started = time.perf_counter()
    # Queued as the relay queues deliveries: batched, one broker round trip per SEND_BATCH.
    with app.producer_or_acquire() as producer, producer.batch(max_size=SEND_BATCH):
        for index in range(args.events):
            merchant = merchants[index % len(merchants)]
            for target in ("qbo", "xero"):
                post.apply_async((url, tokens[merchant.pk], f"baseline-{index}-{target}",
                                  {"type": "sale.completed", "data": payload}), producer=producer)
    wait_until(lambda: int(broker.get(DONE_KEY) or 0) >= 2 * args.events, 1800, "the baseline tasks")
    baseline_s = time.perf_counter() - started
    baseline_per_s = args.events / baseline_s
    print(f"baseline: {2 * args.events} bare POST tasks in {baseline_s:.1f} s → {baseline_per_s:.0f} events/s",
          flush=True)
    print(f"RESULT events events_per_s={events_per_s:.0f} baseline_per_s={baseline_per_s:.0f} "
          f"ratio={events_per_s / baseline_per_s:.2f} publish_overhead={overhead:.2f} p50_ms={p50:.0f} p99_ms={p99:.0f} "
          f"messages_per_event={messages_per_event:.2f} drain_events_per_s={drain_per_s:.0f} upload_batch={upload_batch} "
          f"steady_p50_ms={steady_p50:.0f} steady_p99_ms={steady_p99:.0f}")


def _latency_percentiles(*, since) -> tuple[float, float]:
    """p50 and p99 of publish-to-delivery (an event's last delivery) in ms, of the events
    published since `since` (None: all of them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT extract(epoch FROM max(d.succeeded_at) - e.created_at) * 1000
               FROM integrations_outboxevent e JOIN integrations_eventdelivery d ON d.event_id = e.id
               WHERE %(since)s::timestamptz IS NULL OR e.created_at >= %(since)s GROUP BY e.id""", {"since": since})
        latencies = sorted(row[0] for row in cursor.fetchall())
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


_PUBLISHING: dict = {}  # what the forked publishing streams read


def _publish_share(share: int) -> None:
    """One upload stream: its terminals' sales, a batch per upload, each terminal in turn."""
    from devices.uploads import upload_ingest

    terminals, batch = _PUBLISHING["terminals"], _PUBLISHING["batch"]
    queued: dict[int, list[dict]] = {}
    for index in range(share, _PUBLISHING["events"], PUBLISHERS):
        queued.setdefault(index % len(terminals), []).append(sale(index))
    uploads = [(terminals[number], sales[start:start + batch])
               for number, sales in queued.items() for start in range(0, len(sales), batch)]
    uploads.sort(key=lambda upload: upload[1][0]["completed_at"])  # in the order the sales were made
    for terminal, records in uploads:
        results = upload_ingest(terminal=terminal, body={"records": records})
        if any(result.status != "stored" for result in results):
            raise SystemExit(f"an upload was not stored whole: {[r.as_dict() for r in results if r.status != 'stored']}")


def _answers(url: str) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
