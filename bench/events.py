"""Event bus throughput: sales uploaded as terminals upload them, through
`devices.uploads.upload_ingest` (the service behind `POST /api/pos/v1/uploads`: card guard, record
checks, sales + lines + tenders in the merchant's schema and their outbox rows in one transaction),
in batches of the `pos.sync.upload_batch_size` default (terminals queue sales and send them in
batches), delivered by real Celery workers to the demo simulator over HTTP, against a baseline of
bare Celery tasks doing the same POSTs with no outbox; and the cost of publishing one sale
(business write + outbox row vs the business write alone).

`--merchants` (200), each with the two sandbox ledgers on the demo connector (tests/sandbox_vendors.py:
2 deliveries per event; the analytics sink counts it too) and one enrolled terminal: built once into a template
database and copied for each run (bench/events_setup.py; BENCH_REBUILD=1 builds it again). `--events`
sales (20,000) from 4 upload streams, BENCH_UPLOAD_BATCH sales per upload (default: what the terminals'
configuration says); 3 worker processes with 4 threads each (BENCH_WORKERS / BENCH_WORKER_POOL /
BENCH_WORKER_CONCURRENCY / BENCH_WORKER_ARGS to vary them; the baseline runs on the same workers).
Phases: the simulator's own rate (nothing else running), publish cost, the burst, a steady phase
(50 sales/s), the same steady load with one merchant's ledger answering in 2 s, the baseline, and the
soak of bench/soak.py (BENCH_SOAK_DAYS simulated days) when it exists. Ends with
RESULT events events_per_s=… baseline_per_s=… ratio=… publish_overhead=… steady_p99_ms=…
slow_vendor_others_p99_ms=… (the other merchants' events, while one endpoint is slow) soak_growth=…
p50_ms=… p99_ms=… messages_per_event=… drain_events_per_s=… (the delivery side alone, once publishing
stopped) upload_batch=… steady_p50_ms=… (latency with sales arriving steadily, not in a burst)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import free_port, keepalive_posts  # noqa: E402
from bench.events_setup import bench_merchants, prepared_database  # noqa: E402

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
# The slow-vendor phase: the slow endpoint (one ledger of one merchant) answers every call this late,
# and that merchant sends one upload in this many: a busy store (5× the average of 200 merchants), so its
# endpoint has deliveries waiting through the whole phase.
SLOW_VENDOR_DELAY_S, SLOW_MERCHANT_EVERY = 2.0, 40
# The simulator's own rate, checked before anything else runs: keep-alive connections (as many as the
# workers' senders might open), for how long. The bench needs 2 POSTs per event it delivers.
PROBE_CONNECTIONS, PROBE_S = 32, 3.0
SOAK_DAYS = int(os.environ.get("BENCH_SOAK_DAYS", "7"))  # simulated days of bench/soak.py (its default too)


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

    started = time.perf_counter()
    sim_port = free_port()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DEMO_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "CELERY_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "0",  # as deployed: debug mode keeps every query in memory and times it
        "DJANGO_SETTINGS_MODULE": "qiiub.settings",
    }
    # The simulator first: building the merchants tests each ledger's connection against it.
    processes = [subprocess.Popen([sys.executable, "-m", "simulators.demo", "--port", str(sim_port)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL)]
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{sim_port}/health"), 10, "the simulator")
        env["DATABASE_URL"] = prepared_database(os.environ["DATABASE_URL"], args.merchants, env)
        os.environ.update(env)
        run(args, env, queue, processes, sim_port, started)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def run(args, env, queue, processes, sim_port, started_at) -> None:
    import django

    django.setup()
    import redis
    from django.conf import settings
    from django.db import connection, connections
    from django.utils import timezone

    from bench.baseline import posts_done, queue_posts
    from devices.cascade import resolve
    from devices.sales import sale_record, write_sale
    from devices.uploads import upload_ingest
    from events.models import OutboxEvent
    from events.tasks import sweep_outbox
    from qiiub.celery import app

    bench = bench_merchants(merchants=args.merchants)
    merchants, locations, terminals = bench.merchants, bench.locations, bench.terminals
    print(f"set-up: {len(merchants)} merchants ready {time.perf_counter() - started_at:.1f} s after the start "
          f"(building them took {bench.build_s:.0f} s)", flush=True)
    # What the terminals' resolved configuration tells them (the same at every location here).
    upload_batch = int(UPLOAD_BATCH or resolve(terminals[0].location)["pos.sync.upload_batch_size"].value)

    # The simulator alone on the cores: it must answer far more POSTs than the deliveries measured below.
    probe_per_s, probe_failed = keepalive_posts(
        "127.0.0.1", sim_port, "/v1/events", threads=PROBE_CONNECTIONS, seconds=PROBE_S,
        headers={"Authorization": "Bearer bench-probe"}, body={"type": "sale.completed", "data": sale(0)})
    print(f"simulator: {probe_per_s:.0f} POSTs/s answered on {PROBE_CONNECTIONS} keep-alive connections "
          f"({probe_failed} failed)", flush=True)

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
             "-P", WORKER_POOL, "-l", "warning", "-n", f"{queue}-{number}@%h", "--without-mingle", "--without-gossip",
             "-I", "bench.baseline", *os.environ.get("BENCH_WORKER_ARGS", "").split()],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(logs / f"bench-worker{number}.log", "w"),
        ))
    # Timed from the first upload, so only once every worker answers (starting takes seconds, more on busy cores).
    wait_until(lambda: _workers_ready(app, queue) >= WORKERS, 120, "the workers")
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
    polls = iter(range(10**9))

    def settled() -> bool:
        """Every event published so far is relayed and none of its deliveries is still pending (whatever
        the relay makes per event: the analytics sink, for one, is counted without a delivery row)."""
        if next(polls) % 20 == 19:
            sweep_outbox.delay()  # what beat does every 30 s in production, here every ~10 s
        with connection.cursor() as cursor:
            cursor.execute("""SELECT EXISTS (SELECT FROM integrations_outboxevent WHERE relayed_at IS NULL)
                              OR EXISTS (SELECT FROM integrations_eventdelivery WHERE status = 'pending')""")
            return not cursor.fetchone()[0]

    wait_until(settled, 1800, "every delivery")  # polled every 0.5 s
    elapsed = time.perf_counter() - started
    events_per_s = args.events / elapsed
    p50, p99 = _percentiles(_latencies(since=None))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE status <> 'succeeded') FROM integrations_eventdelivery")
        deliveries, unsuccessful = cursor.fetchone()
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
    print(f"outbox: {args.events} sales uploaded {upload_batch} per upload in {published_s:.1f} s; all {deliveries} deliveries in "
          f"{elapsed:.1f} s → {events_per_s:.0f} events/s, latency p50 {p50:.0f} ms p99 {p99:.0f} ms, "
          f"{messages_per_event:.2f} bus messages per event", flush=True)
    if unsuccessful:
        print(f"warning: {unsuccessful} deliveries did not succeed (dead or held)", flush=True)
    print(f"drain: {drain_per_s:.0f} events/s delivered once publishing had stopped "
          f"(while the 4 streams wrote sales, the same 2 cores served them first)", flush=True)

    def paced_uploads(terminal_for: Callable[[int], object]) -> None:
        """STEADY_SALES sales at STEADY_RATE in uploads of STEADY_UPLOAD; `terminal_for(n)` sends upload n."""
        began = time.perf_counter()
        for number in range(STEADY_SALES // STEADY_UPLOAD):
            time.sleep(max(0.0, began + number * STEADY_UPLOAD / STEADY_RATE - time.perf_counter()))
            upload_ingest(terminal=terminal_for(number), body={"records": [sale(index) for index in range(STEADY_UPLOAD)]})

    # Latency without a backlog: sales arriving steadily well below capacity, as tills send them
    # through a day, rather than the burst above (whose latency is mostly the time in the queue).
    steady_since = timezone.now()
    paced_uploads(lambda number: terminals[number % len(terminals)])
    wait_until(settled, 300, "the steady deliveries")
    steady_p50, steady_p99 = _percentiles(_latencies(since=steady_since))
    print(f"steady: {STEADY_SALES} sales at {STEADY_RATE}/s in uploads of {STEADY_UPLOAD}: publish-to-delivery "
          f"p50 {steady_p50:.0f} ms p99 {steady_p99:.0f} ms", flush=True)

    # The same steady load with one endpoint slow: the first merchant's first ledger answers in 2 s. What the
    # other merchants' events then take says whether one slow vendor holds up everyone's deliveries.
    slow, others = merchants[0], terminals[1:] or terminals
    slow_token = bench.tokens[slow.pk][0]
    _control(sim_port, slow_token, delay_s=SLOW_VENDOR_DELAY_S)
    try:
        slow_since, slow_started = timezone.now(), time.perf_counter()
        paced_uploads(lambda number: terminals[0] if number % SLOW_MERCHANT_EVERY == 0 else others[number % len(others)])
        published = time.perf_counter() - slow_started
        wait_until(settled, 900, "the slow phase's deliveries (the slow endpoint's too)")
        slow_done = time.perf_counter() - slow_started
    finally:
        _control(sim_port, slow_token, delay_s=0)
    latencies = _latencies(since=slow_since)
    slow_p50, slow_p99 = _percentiles([ms for merchant_id, ms in latencies if merchant_id != slow.pk])
    slow_events = [ms for merchant_id, ms in latencies if merchant_id == slow.pk]
    print(f"slow vendor: one ledger of {slow.slug} answering in {SLOW_VENDOR_DELAY_S:.0f} s, the same steady load "
          f"({len(slow_events)} of its sales): the other merchants' events p50 {slow_p50:.0f} ms p99 {slow_p99:.0f} ms; "
          f"its own up to {max(slow_events, default=0) / 1000:.1f} s; every delivery done {slow_done:.1f} s after "
          f"the phase began (publishing took {published:.1f} s)", flush=True)

    # Baseline: bare tasks doing the same two POSTs per event, with the same body a delivery sends,
    # queued as the relay queues its tasks (batched).
    payload = OutboxEvent.objects.filter(event_type="sale.completed").values_list("payload", flat=True).first()
    started = time.perf_counter()
    queue_posts(f"http://127.0.0.1:{sim_port}/v1/events", {"type": "sale.completed", "data": payload}, (
        (token, f"baseline-{index}-{ledger}") for index in range(args.events)
        for ledger, token in enumerate(bench.tokens[merchants[index % len(merchants)].pk])))
    wait_until(lambda: posts_done() >= 2 * args.events, 1800, "the baseline tasks")
    baseline_s = time.perf_counter() - started
    baseline_per_s = args.events / baseline_s
    print(f"baseline: {2 * args.events} bare POST tasks in {baseline_s:.1f} s → {baseline_per_s:.0f} events/s",
          flush=True)

    for worker in processes[1:]:  # the soak writes its days directly: the workers would only share the cores
        worker.terminate()
    # The soak starts from empty event tables, as on a database of its own: the bench's events would count in
    # day 1 and day N alike and flatten the ratio. (This database is the run's copy.)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE integrations_deliveryattempt, integrations_eventdelivery, integrations_outboxevent, "
                       "integrations_eventdailycount CASCADE")
    soak_growth, soak_failed = _soak_growth()
    print(f"RESULT events events_per_s={events_per_s:.0f} baseline_per_s={baseline_per_s:.0f} "
          f"ratio={events_per_s / baseline_per_s:.2f} publish_overhead={overhead:.2f} steady_p99_ms={steady_p99:.0f} "
          f"slow_vendor_others_p99_ms={slow_p99:.0f} soak_growth={soak_growth} p50_ms={p50:.0f} p99_ms={p99:.0f} "
          f"messages_per_event={messages_per_event:.2f} drain_events_per_s={drain_per_s:.0f} upload_batch={upload_batch} "
          f"steady_p50_ms={steady_p50:.0f}", flush=True)
    if soak_failed:
        raise SystemExit(1)


def _latencies(*, since) -> list[tuple[int, float]]:
    """(merchant id, publish-to-delivery in ms: to the event's last delivery) of each event published since
    `since` (None: all of them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT e.merchant_id, extract(epoch FROM max(d.succeeded_at) - e.created_at) * 1000
               FROM integrations_outboxevent e JOIN integrations_eventdelivery d ON d.event_id = e.id
               WHERE %(since)s::timestamptz IS NULL OR e.created_at >= %(since)s GROUP BY e.id""", {"since": since})
        return [(merchant_id, float(ms)) for merchant_id, ms in cursor.fetchall()]


def _percentiles(latencies) -> tuple[float, float]:
    """p50 and p99 of latencies: (merchant id, ms) pairs, or ms alone."""
    ordered = sorted(latency[1] if isinstance(latency, tuple) else latency for latency in latencies)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def _workers_ready(app, queue: str) -> int:
    # On a connection of its own, closed here: a forked upload stream would otherwise inherit the reply
    # consumer's connection, and kombu's after-fork clean-up in the child waits on it forever.
    with app.connection_for_write() as connection:
        replies = app.control.ping(timeout=0.5, connection=connection)
    return sum(name.startswith(f"{queue}-") for reply in replies for name in reply)


def _control(sim_port: int, token: str, **steering) -> None:
    """Steer the simulator's answers to `token` (POST /_control)."""
    request = urllib.request.Request(f"http://127.0.0.1:{sim_port}/_control", method="POST",
                                     data=json.dumps({"token": token, **steering}).encode())
    urllib.request.urlopen(request, timeout=5).read()


def _soak_growth() -> tuple[str, bool]:
    """bench/soak.py's `soak_growth` over SOAK_DAYS simulated days, "na" while that module does not exist; and
    whether it failed (its traceback printed, the other figures still reported)."""
    try:
        from bench.soak import soak
    except ModuleNotFoundError as error:
        if error.name != "bench.soak":
            raise
        print("soak: bench/soak.py is not there yet: soak_growth=na", flush=True)
        return "na", False
    try:
        figures = soak(SOAK_DAYS)
    except Exception:
        traceback.print_exc()
        return "failed", True
    growth = figures["soak_growth"]
    growth = f"{growth:.2f}" if isinstance(growth, float) else str(growth)
    print(f"soak: {SOAK_DAYS} simulated days, bounded tables' bytes after the last day / after day 1 = {growth}",
          flush=True)
    return growth, False


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
    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
