"""The pharmacy benchmark's relay and pickup load: relays pushing, what one call costs in process, and
registers uploading pickups (`bench/pharmacy.py` runs it; register pulls are in bench/pharmacy_pulls.py)."""

from __future__ import annotations

import base64
import json
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import in_threads  # noqa: E402
from bench.pharmacy_fleet import (  # noqa: E402
    LOAD_PROCESSES,
    LOAD_THREADS,
    PUSH_BATCH,
    READY_PATH,
    READY_PER_STORE,
    REGISTERS,
    RELAY_HEARTBEAT_S,
    RELAY_PATH,
    RELAY_POLL_S,
    TARGET_PULLS,
    Client,
    fake_call,
    now_iso,
    percentile,
    ready_change,
    rx_number,
    signature_png,
)


def _push_load(args) -> list[tuple[str, float, float, int, int]]:
    """One load process: threads, each taking its stores one after another: a heartbeat (the lease),
    then READY_PER_STORE ready fills in batches. Returns (kind, started, latency s, status, applied)."""
    port, stores, threads = args

    def run(thread_index: int) -> list:
        client = Client(port)
        mine = []
        for store, token in stores[thread_index::threads]:
            began = time.time()
            status, _, _ = client.request("POST", RELAY_PATH + "heartbeat", token,
                                          {"queue_depth": 0, "pharmacy_reachable": True})
            mine.append(("heartbeat", began, time.time() - began, status, 0))
            for first in range(0, READY_PER_STORE, PUSH_BATCH):
                changes = [ready_change(store, number) for number in range(first, first + PUSH_BATCH)]
                began = time.time()
                status, _, content = client.request("POST", RELAY_PATH + "prescriptions", token, {"changes": changes})
                applied = json.loads(content)["applied"] if status == 200 else 0
                mine.append(("push", began, time.time() - began, status, applied))
        return mine

    return in_threads(threads, run)


def relay_push(port: int, fleet: dict) -> dict:
    stores = [(store["index"], store["relay_token"]) for store in fleet["load"]]
    with multiprocessing.get_context("fork").Pool(LOAD_PROCESSES) as pool:
        calls = [call for part in pool.map(_push_load, [
            (port, stores[number::LOAD_PROCESSES], LOAD_THREADS // 2) for number in range(LOAD_PROCESSES)])
            for call in part]
    span = max(began + latency for _, began, latency, _, _ in calls) - min(began for _, began, _, _, _ in calls)
    pushes = [call for call in calls if call[0] == "push"]
    applied = sum(call[4] for call in pushes)
    for store, _ in stores:
        fleet["pushed"][store] += READY_PER_STORE
    failures = sum(status != 200 for _, _, _, status, _ in calls)
    latencies = [latency * 1000 for _, _, latency, _, _ in pushes]
    heartbeats = [latency * 1000 for kind, _, latency, _, _ in calls if kind == "heartbeat"]
    rate = applied / span
    print(f"relay push: {len(stores)} relays × (heartbeat + {READY_PER_STORE // PUSH_BATCH} pushes of {PUSH_BATCH}), "
          f"{LOAD_PROCESSES}×{LOAD_THREADS // 2} connections: {applied} fills applied in {span:.1f} s → {rate:.0f}/s, "
          f"{len(pushes) / span:.0f} pushes/s (p50 {statistics.median(latencies):.1f} ms, p99 "
          f"{percentile(latencies, 0.99):.1f} ms), heartbeat p99 {percentile(heartbeats, 0.99):.1f} ms; "
          f"{failures} failed", flush=True)
    return {"relay_push_per_s": f"{rate:.0f}", "relay_pushes_per_s": f"{len(pushes) / span:.0f}",
            "push_p99_ms": f"{percentile(latencies, 0.99):.1f}", "push_failures": str(failures)}


# -- 3. the sample stores' real relays ----------------------------------------------------------------------------------


def in_process_costs(fleet: dict) -> dict:
    """What one call costs the hub, in process through the WSGI application (no HTTP, no load):
    the ready list unchanged (304) and changed (200, 20 fills), next to the POS config's 304, which
    NotModifiedConfigMiddleware answers before the middleware stack and DRF; and an idle relay's
    calls (config 304, heartbeat, empty outbox). From them, how much of a core the offered load
    asks for, registers alone and with the relays' idle traffic at the default timing."""
    from django.core.wsgi import get_wsgi_application

    from bench.pos import _wsgi_get, _wsgi_post
    from devices.pos_config import config_etag
    from devices.terminals import terminal_for_token

    app = get_wsgi_application()
    tokens = [store["registers"][0] for store in fleet["load"][:100]]
    ready = {token: _wsgi_get(app, READY_PATH, token)[1]["ETag"] for token in tokens}
    config = {token: config_etag(terminal_for_token(token)) for token in tokens}
    relays = [store["relay_token"] for store in fleet["load"][:100]]
    relay_etags = {token: _wsgi_get(app, RELAY_PATH + "config", token)[1]["ETag"] for token in relays}
    heartbeat = json.dumps({"queue_depth": 0, "pharmacy_reachable": True}).encode()
    calls = {
        "ready_304": lambda token: _wsgi_get(app, READY_PATH, token, ready[token]),
        "config_304": lambda token: _wsgi_get(app, "/api/pos/v1/config", token, config[token]),
        "ready_200": lambda token: _wsgi_get(app, READY_PATH, token),
        "relay_config_304": lambda token: _wsgi_get(app, RELAY_PATH + "config", token, relay_etags[token]),
        "relay_heartbeat": lambda token: _wsgi_post(app, RELAY_PATH + "heartbeat", token, heartbeat),
        "relay_outbox": lambda token: _wsgi_get(app, RELAY_PATH + "outbox", token),
    }
    costs = {}
    for name, call in calls.items():
        own = relays if name.startswith("relay_") else tokens
        rounds = 1 if name == "ready_200" else 3
        began = time.perf_counter()
        for _round in range(rounds):
            for token in own:
                call(token)
        costs[name] = (time.perf_counter() - began) / (len(own) * rounds) * 1000
    share = 0.1  # of the pulls answer 200 (the window above: ~9.5%)
    pulls = TARGET_PULLS * ((1 - share) * costs["ready_304"] + share * costs["ready_200"]) / 1000
    idle = len(fleet["load"]) * ((costs["relay_config_304"] + costs["relay_heartbeat"]) / RELAY_HEARTBEAT_S
                                 + costs["relay_outbox"] / RELAY_POLL_S) / 1000
    print(f"one call in process: ready list unchanged (304) {costs['ready_304']:.2f} ms, changed (200, "
          f"{READY_PER_STORE}+ fills, audited) {costs['ready_200']:.2f} ms, the POS config's 304 (answered by its "
          f"middleware, before the stack) {costs['config_304']:.2f} ms; an idle relay's config 304 "
          f"{costs['relay_config_304']:.2f} ms, heartbeat {costs['relay_heartbeat']:.2f} ms, outbox "
          f"{costs['relay_outbox']:.2f} ms → {TARGET_PULLS:.0f} pulls/s ask for {pulls:.2f} core-s/s, the "
          f"{len(fleet['load'])} idle relays {idle:.2f} more (Python alone, before HTTP and PostgreSQL)", flush=True)
    return {**{f"{name}_ms": f"{cost:.2f}" for name, cost in costs.items()},
            "pulls_core_s_per_s": f"{pulls:.2f}", "idle_relays_core_s_per_s": f"{idle:.2f}"}


# -- 4. pickups ---------------------------------------------------------------------------------------------------------


def pickups(port: int, fleet: dict) -> dict:
    png = base64.b64encode(signature_png()).decode()
    entered = fleet["entered"]
    jobs = []  # (store, register token, rx number)
    for store in fleet["sample"]:
        numbers = [rx_number(store["index"], number) for number in range(READY_PER_STORE)]
        numbers += sorted(number for number in entered if number.startswith(f"{store['index']:03d}"))
        for position, number in enumerate(numbers):
            jobs.append((store, store["registers"][position % REGISTERS], number))
    uploaded: dict[str, float] = {}  # rx number → when its upload was answered
    failures = Counter()
    lock = threading.Lock()

    def upload(own: list[tuple[dict, str, str]]) -> None:
        client = Client(port)
        for position, (store, token, number) in enumerate(own):
            flagged = int(number[3:]) % 4 == 0
            record = {"type": "rx_pickup", "client_uuid": str(uuid.uuid4()), "rx_number": number, "fill_number": 1,
                      "picked_up_at": now_iso(), "amount_paid": "12.50",
                      "picked_up_by": {"name": "RIVERA, ANA", "relation": "self", "id_type": "drivers_license",
                                       "id_last4": "1234"},
                      "flag_results": [{"type": "hipaa", "accepted": True}] if flagged else []}
            if position % 2 == 0 or flagged:
                record["signature"] = {"format": "image/png", "data": png}
            status, _, content = client.request("POST", "/api/pos/v1/uploads", token, {"records": [record]})
            answer = json.loads(content) if status == 200 else {}
            with lock:
                if status == 200 and answer.get("stored") == 1:
                    uploaded[number] = time.time()
                    fleet["picked"][number] = (store, record["client_uuid"])
                else:
                    failures[f"{status}:{content[:200]!r}"] += 1

    arrived: dict[str, float] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for store in fleet["sample"]:
                state = fake_call(store["fake_port"], "/_state")
                now = time.time()
                for invoice in state["rx_invoices"].values():
                    for item in invoice["items"]:
                        if not item["return"]:
                            arrived.setdefault(item["rx_number"], now)
            time.sleep(0.1)

    by_register: dict[str, list] = {}
    for job in jobs:
        by_register.setdefault(job[1], []).append(job)
    watcher = threading.Thread(target=watch)
    watcher.start()
    began = time.time()
    uploaders = [threading.Thread(target=upload, args=(own,)) for own in by_register.values()]
    for uploader in uploaders:
        uploader.start()
    for uploader in uploaders:
        uploader.join()
    upload_span = time.time() - began
    deadline = time.time() + 60
    while time.time() < deadline and not all(number in arrived for number in uploaded):
        time.sleep(0.2)
    done.set()
    watcher.join()
    delays = [(arrived[number] - uploaded[number]) * 1000 for number in uploaded if number in arrived]
    last = max(arrived.values()) if arrived else began
    print(f"pickups: {len(uploaded)} rx_pickup uploads ({len(by_register)} registers, one record each, every other one with a "
          f"{len(base64.b64decode(png))}-byte PNG) in {upload_span:.1f} s → {len(uploaded) / upload_span:.0f}/s "
          f"through gunicorn, {sum(failures.values())} failed {dict(failures) or ''}; {len(delays)} at the pharmacy "
          f"system after p50 {statistics.median(delays):.0f} ms, p99 {percentile(delays, 0.99):.0f} ms "
          f"(all in {last - began:.1f} s from the first upload)", flush=True)
    fleet["upload_failures"] = sum(failures.values())
    return {"pickups_per_s": f"{len(uploaded) / upload_span:.0f}",
            "pickup_to_pharmacy_p50_ms": f"{statistics.median(delays):.0f}",
            "pickup_to_pharmacy_p99_ms": f"{percentile(delays, 0.99):.0f}"}


# -- the books ----------------------------------------------------------------------------------------------------------
