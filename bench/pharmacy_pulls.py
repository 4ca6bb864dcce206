"""The pharmacy benchmark's register pulls: open loop at the offered rate, closed loop, with the idle
relays' traffic beside them, and how long a new fill takes to reach a register (`bench/pharmacy.py`)."""

from __future__ import annotations

import json
import multiprocessing
import random
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import in_threads  # noqa: E402
from bench.pharmacy_fleet import (  # noqa: E402
    ADD_EVERY_S,
    ADDS,
    CHANGES_PER_S,
    CLOSED_LOOP_SECONDS,
    CLOSED_THREADS,
    LOAD_PROCESSES,
    LOAD_THREADS,
    PROBE_EVERY_S,
    PULL_EVERY_S,
    READY_PATH,
    REGISTERS,
    RELAY_HEARTBEAT_S,
    RELAY_PATH,
    RELAY_POLL_S,
    RELAY_WINDOW_S,
    TARGET_P99_MS,
    TARGET_PULLS,
    WINDOW_S,
    Client,
    fake_call,
    fake_prescription,
    percentile,
    ready_change,
)


def _open_loop(args) -> list[tuple[str, float, int]]:
    """One load process, open loop: each job (kind, token, ETag, offset, period) runs at its offset
    and then every period; latency is measured from the scheduled time, so a late answer delays
    nothing after it. `pull`: a register's ready list with If-None-Match (a 200 gives the register
    its new ETag); `heartbeat`: a relay's config (If-None-Match) then its heartbeat, as the relay
    does; `outbox`: a relay's outbox fetch. Returns [(kind, latency s, status)]."""
    port, jobs, seconds, threads, start_at = args

    def run(thread_index: int) -> list:
        client = Client(port)
        own = jobs[thread_index::threads]
        etags = {token: etag for _, token, etag, _, _ in own}
        schedule = sorted((offset + turn * period, kind, token) for kind, token, _, offset, period in own
                          for turn in range(int(seconds // period) + 1) if offset + turn * period < seconds)
        mine = []
        for at, kind, token in schedule:
            scheduled = start_at + at
            time.sleep(max(0.0, scheduled - time.time()))
            if kind == "pull":
                status, headers, _ = client.request("GET", READY_PATH, token, etag=etags[token])
                if status == 200:
                    etags[token] = headers["ETag"]
            elif kind == "outbox":
                status, _, _ = client.request("GET", RELAY_PATH + "outbox?limit=100", token)
            else:
                status, headers, _ = client.request("GET", RELAY_PATH + "config", token, etag=etags[token])
                mine.append(("config", time.time() - scheduled, status))
                if status == 200:
                    etags[token] = headers["ETag"]
                scheduled = time.time()
                status, _, _ = client.request("POST", RELAY_PATH + "heartbeat", token,
                                              {"queue_depth": 0, "pharmacy_reachable": True})
            mine.append((kind, time.time() - scheduled, status))
        return mine

    return in_threads(threads, run)


def _closed_loop(args) -> list[tuple[float, int]]:
    """One load process, closed loop: each connection pulls its registers' ready lists (unchanged:
    304) one after another as fast as they are answered. Returns [(latency s, status)]."""
    port, registers, seconds, threads, start_at = args

    def run(thread_index: int) -> list:
        client = Client(port)
        own = registers[thread_index::threads]
        mine = []
        time.sleep(max(0.0, start_at - time.time()))
        index = 0
        while time.time() < start_at + seconds:
            token, etag = own[index % len(own)]
            began = time.time()
            status, _, _ = client.request("GET", READY_PATH, token, etag=etag)
            mine.append((time.time() - began, status))
            index += 1
        return mine

    return in_threads(threads, run)


def run_open_loop(port: int, jobs: list[tuple], seconds: float, start_at: float) -> list[tuple[str, float, int]]:
    rng = random.Random(11)
    jobs = jobs[:]
    rng.shuffle(jobs)
    with multiprocessing.get_context("fork").Pool(LOAD_PROCESSES) as pool:
        parts = pool.map(_open_loop, [(port, jobs[number::LOAD_PROCESSES], seconds, LOAD_THREADS, start_at)
                                      for number in range(LOAD_PROCESSES)])
    return [result for part in parts for result in part]


def current_etags(fleet: dict) -> dict[int, str]:
    from merchants.models import Location
    from pharmacy.models import PharmacyStation
    from pharmacy.prescriptions import ready_etag

    versions = dict(PharmacyStation.objects.values_list("location_id", "ready_version"))
    return {store["index"]: ready_etag(Location(pk=store["location"].pk), versions.get(store["location"].pk, 0))
            for store in fleet["stores"]}


def pulls_and_latency(port: int, fleet: dict) -> dict:
    from django.db import connections

    rng = random.Random(7)
    etags = current_etags(fleet)
    connections.close_all()
    load_registers = [("pull", token, etags[store["index"]], rng.uniform(0, PULL_EVERY_S), PULL_EVERY_S)
                      for store in fleet["load"] for token in store["registers"]]
    start_at = time.time() + 3.0
    stop = threading.Event()
    sample_pulls: list[tuple[float, float, int]] = []  # (scheduled, from the window's start; latency s; status)
    probe_pulls: list[tuple[float, float, int]] = []
    lock = threading.Lock()
    added: dict[int, list[str]] = {store["index"]: [] for store in fleet["sample"]}
    adds_done = threading.Event()

    def all_seen(seen: dict[str, float], store_index: int) -> bool:
        return adds_done.is_set() and all(number in seen for number in added[store_index])

    def register(store: dict, token: str, offset: float, seen: dict[str, float], every: float,
                 pulls: list[tuple[float, int]], until: float) -> None:
        """A register of a sample store (or its probe): a first pull for its ETag before the window,
        then every `every` s from its offset; notes when each fill first shows."""
        client = Client(port)
        status, headers, content = client.request("GET", READY_PATH, token)
        etag = headers["ETag"]
        turn = 0
        while not stop.is_set():
            scheduled = start_at + offset + turn * every
            turn += 1
            if scheduled > start_at + until and all_seen(seen, store["index"]):
                return
            if stop.wait(max(0.0, scheduled - time.time())):
                return
            status, headers, content = client.request("GET", READY_PATH, token, etag=etag)
            now = time.time()
            with lock:
                pulls.append((scheduled - start_at, now - scheduled, status))
            if status == 200:
                etag = headers["ETag"]
                for prescription in json.loads(content)["prescriptions"]:
                    seen.setdefault(prescription["rx_number"], now)

    def adder() -> None:
        for number in range(ADDS):
            store = fleet["sample"][number % len(fleet["sample"])]
            rx = fake_prescription(store["index"], 100 + number // len(fleet["sample"]))
            time.sleep(max(0.0, start_at + 1.0 + number * ADD_EVERY_S - time.time()))
            fleet["entered"][rx["rx_number"]] = time.time()
            fake_call(store["fake_port"], "/_control", {"add": [rx]})
            added[store["index"]].append(rx["rx_number"])
        adds_done.set()

    changes = Counter()

    def changer() -> None:
        client, number = Client(port), 0
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < start_at + WINDOW_S - 1:
            store = rng.choice(fleet["load"])
            status, _, content = client.request("POST", RELAY_PATH + "prescriptions", store["relay_token"],
                                                {"changes": [ready_change(store["index"], 1000 + number)]})
            changes["sent"] += 1
            if status == 200:
                changes["applied"] += json.loads(content)["applied"]
                fleet["pushed"][store["index"]] += 1
            else:
                changes["failed"] += 1
            number += 1
            time.sleep(max(0.0, start_at + number / CHANGES_PER_S - time.time()))

    threads = [threading.Thread(target=adder), threading.Thread(target=changer)]
    for position, store in enumerate(fleet["sample"]):
        for number, token in enumerate(store["registers"]):
            seen = fleet["seen"].setdefault((store["index"], number), {})
            offset = (position * REGISTERS + number) * PULL_EVERY_S / (len(fleet["sample"]) * REGISTERS)
            threads.append(threading.Thread(target=register, args=(
                store, token, offset, seen, PULL_EVERY_S, sample_pulls, WINDOW_S)))
        probe_seen = fleet["probe_seen"].setdefault(store["index"], {})
        threads.append(threading.Thread(target=register, args=(
            store, store["probe"], position * PROBE_EVERY_S / len(fleet["sample"]), probe_seen, PROBE_EVERY_S,
            probe_pulls, ADDS * ADD_EVERY_S)))
    for thread in threads:
        thread.start()
    window_pulls = [(latency, status) for _, latency, status in run_open_loop(port, load_registers, WINDOW_S, start_at)]
    deadline = time.time() + 30
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.time()))
    stop.set()
    for thread in threads:
        thread.join()
    # Every pull of the 1,500 registers in the window (the sample stores' ones too; not the probes).
    with lock:
        pulls = window_pulls + [(latency, status) for at, latency, status in sample_pulls if at < WINDOW_S]
    latencies = [latency * 1000 for latency, _ in pulls]
    statuses = Counter(status for _, status in pulls)
    achieved = len(pulls) / WINDOW_S
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    by_status = {code: percentile([latency * 1000 for latency, status in pulls if status == code], 0.99)
                 for code in (304, 200)}
    failures = sum(count for status, count in statuses.items() if status not in (200, 304))
    print(f"register pulls, {len(load_registers) + len(fleet['sample']) * REGISTERS} registers every "
          f"{PULL_EVERY_S:.0f} s with If-None-Match for {WINDOW_S:.0f} s (offered {TARGET_PULLS:.0f}/s), {changes['applied']}"
          f" fills pushed meanwhile at {CHANGES_PER_S:.0f}/s ({changes['failed']} refused): served {achieved:.1f}/s ({statuses[304]} 304, "
          f"{statuses[200]} 200 = {statuses[200] / max(1, len(pulls)):.1%} after a change, {failures} failed), "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (304s {by_status[304]:.1f} ms, 200s {by_status[200]:.1f} ms; targets "
          f"≥ {TARGET_PULLS:.0f}/s, p99 < {TARGET_P99_MS:.0f} ms); "
          f"probes {len(probe_pulls)} pulls more", flush=True)
    results = {"pulls_per_s": f"{achieved:.1f}", "pull_p99_ms": f"{p99:.1f}", "pull_p50_ms": f"{p50:.1f}",
               "pull_200_share": f"{statuses[200] / max(1, len(pulls)):.3f}", "pull_failures": str(failures)}
    results.update(ready_latency(fleet, added))
    return results


def ready_latency(fleet: dict, added: dict[int, list[str]]) -> dict:
    to_register, to_first, to_probe = [], [], []
    unseen = 0
    for store in fleet["sample"]:
        for number in added[store["index"]]:
            entered = fleet["entered"][number]
            times = [fleet["seen"][(store["index"], register)].get(number) for register in range(REGISTERS)]
            unseen += sum(seen is None for seen in times)
            to_register += [seen - entered for seen in times if seen is not None]
            if any(seen is not None for seen in times):
                to_first.append(min(seen for seen in times if seen is not None) - entered)
            if (probed := fleet["probe_seen"][store["index"]].get(number)) is not None:
                to_probe.append(probed - entered)
    fleet["unseen"] = unseen
    ms = {name: (statistics.median(values) * 1000, percentile(values, 0.99) * 1000)
          for name, values in (("register", to_register), ("first", to_first), ("probe", to_probe))}
    print(f"ready → register: {sum(map(len, added.values()))} fills entered at {len(added)} fakes, 1/s; seen by each "
          f"of the store's {REGISTERS} registers (pulling every {PULL_EVERY_S:.0f} s) after p50 {ms['register'][0]:.0f} ms, "
          f"p99 {ms['register'][1]:.0f} ms; by the first of them p50 {ms['first'][0]:.0f} ms, p99 {ms['first'][1]:.0f} ms;"
          f" visible at the hub (probe every {PROBE_EVERY_S} s) p50 {ms['probe'][0]:.0f} ms, p99 {ms['probe'][1]:.0f} ms;"
          f" {unseen} (fill, register) pairs never seen", flush=True)
    return {"ready_to_register_p99_ms": f"{ms['register'][1]:.0f}", "ready_to_register_p50_ms": f"{ms['register'][0]:.0f}",
            "ready_to_first_register_p99_ms": f"{ms['first'][1]:.0f}",
            "ready_to_hub_p50_ms": f"{ms['probe'][0]:.0f}", "ready_to_hub_p99_ms": f"{ms['probe'][1]:.0f}"}


def closed_loop(port: int, fleet: dict) -> dict:
    from django.db import connections

    etags = current_etags(fleet)
    connections.close_all()
    registers = [(token, etags[store["index"]]) for store in fleet["load"] for token in store["registers"]]
    start_at = time.time() + 1.0
    with multiprocessing.get_context("fork").Pool(LOAD_PROCESSES) as pool:
        parts = pool.map(_closed_loop, [(port, registers[number::LOAD_PROCESSES], CLOSED_LOOP_SECONDS,
                                         CLOSED_THREADS, start_at) for number in range(LOAD_PROCESSES)])
    pulls = [pull for part in parts for pull in part]
    rate = len(pulls) / CLOSED_LOOP_SECONDS
    p99 = percentile([latency * 1000 for latency, _ in pulls], 0.99)
    failures = sum(status not in (200, 304) for _, status in pulls)
    print(f"register pulls, closed loop ({LOAD_PROCESSES}×{CLOSED_THREADS} connections, unchanged lists): "
          f"{rate:.0f} pulls/s, p99 {p99:.1f} ms, {failures} failed", flush=True)
    return {"pulls_closed_per_s": f"{rate:.0f}", "pulls_closed_p99_ms": f"{p99:.1f}"}


def with_relay_traffic(port: int, fleet: dict) -> dict:
    """The same register pulls, now with what the 490 load stores' relays send when idle at the
    hub's default timing (qiiub/settings.py): every PHARMACY_RELAY_HEARTBEAT_S (15 s) the config
    (If-None-Match) and a heartbeat, every PHARMACY_RELAY_POLL_S (5 s) an outbox fetch; each relay
    at its own phase. The 10 real relays run on, at 1 s and 2 s."""
    from django.db import connections

    from pharmacy.relays import relay_config_version, relay_for_token

    etags = current_etags(fleet)
    rng = random.Random(13)
    jobs = [("pull", token, etags[store["index"]], rng.uniform(0, PULL_EVERY_S), PULL_EVERY_S)
            for store in fleet["stores"] for token in store["registers"]]
    for store in fleet["load"]:
        token = store["relay_token"]
        jobs.append(("heartbeat", token, f'"{relay_config_version(relay_for_token(token))}"',
                     rng.uniform(0, RELAY_HEARTBEAT_S), RELAY_HEARTBEAT_S))
        jobs.append(("outbox", token, "", rng.uniform(0, RELAY_POLL_S), RELAY_POLL_S))
    connections.close_all()
    results = run_open_loop(port, jobs, RELAY_WINDOW_S, time.time() + 2.0)
    figures = {}
    for kind in ("pull", "config", "heartbeat", "outbox"):
        latencies = [latency * 1000 for done, latency, _ in results if done == kind]
        figures[kind] = (len(latencies) / RELAY_WINDOW_S, statistics.median(latencies), percentile(latencies, 0.99))
    failures = Counter(status for _, _, status in results if status not in (200, 304))
    offered = len(fleet["load"]) * (2 / RELAY_HEARTBEAT_S + 1 / RELAY_POLL_S)
    print(f"register pulls with the {len(fleet['load'])} relays' idle traffic ({offered:.0f} calls/s offered: config + "
          f"heartbeat every {RELAY_HEARTBEAT_S:.0f} s, outbox every {RELAY_POLL_S:.0f} s) for {RELAY_WINDOW_S:.0f} s: "
          + "; ".join(f"{kind} {rate:.0f}/s p50 {p50:.1f} ms p99 {p99:.1f} ms" for kind, (rate, p50, p99) in figures.items())
          + f"; failed {dict(failures) or 0}", flush=True)
    return {"pulls_with_relays_per_s": f"{figures['pull'][0]:.1f}", "pull_with_relays_p99_ms": f"{figures['pull'][2]:.1f}",
            "relay_calls_per_s": f"{sum(rate for kind, (rate, _, _) in figures.items() if kind != 'pull'):.0f}",
            "relay_heartbeat_p99_ms": f"{figures['heartbeat'][2]:.1f}", "relay_outbox_p99_ms": f"{figures['outbox'][2]:.1f}",
            "relay_config_p99_ms": f"{figures['config'][2]:.1f}"}
