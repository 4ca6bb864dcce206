"""The pharmacy relay at chain scale: relays pushing ready prescriptions, registers pulling the ready
list every 15 s, how long a fill made ready in the pharmacy system takes to reach a register, and
pickups going back to the pharmacy system, with nothing lost and nothing applied twice.

Own database (`<name>_bench_pharmacy`, recreated). 500 pharmacies: 25 pharmacy merchants × 20
locations, each with one relay and 3 registers (1,500). Prescriptions, pickups and the outbox live
in the merchant's tenant schema, so every merchant is a real one (`merchant_create`: schema,
migrations, domain, modules, locations); 25 of them keep the setup to seconds (creating a merchant
costs ~0.4–1.3 s, docs/tenancy-at-scale.md) while 20 locations each still spread the load over 25
schemas. Relays and terminals enroll through `pharmacy.relays.relay_enroll` and
`devices.terminals`. The hub is served by gunicorn (2 workers × 4 threads, as bench/pos.py), with
the relay timing short (PHARMACY_RELAY_POLL_S=1, PHARMACY_RELAY_HEARTBEAT_S=2).

1. Relay push: the 490 stores that have no real relay heart-beat (taking the lease) and push 20
   ready fills each in batches of 5 through `POST /api/pos/v1/relay/prescriptions`, from two
   load processes: records applied per second, and the push p99.
2. Register pulls: 1,500 registers, each pulling the ready list every 15 s (staggered) with
   If-None-Match, for WINDOW_S: 100 pulls/s offered, latency measured from each pull's scheduled
   time. Meanwhile a "changer" pushes ~3 new fills a second to random stores, so some pulls
   answer 200 (a changed list, ETag taken) and most 304. Then a closed loop for the most it serves,
   then RELAY_WINDOW_S of the same pulls with the 490 relays' idle traffic at the default timing
   (config + heartbeat every 15 s, outbox every 5 s: ~160 calls/s, more than the registers send),
   and what one call costs in process (ready list 304 and 200, next to the POS config's 304).
3. Ready → register: 10 sample stores run the real relay (`python -m qiiub_relay`, enrolled with a
   one-time code, started 0.2 s apart so their 2 s heartbeats do not arrive as one burst) against
   their own PharmacyCOM fake (Rx30 service mode, configured as the store's `pharmacy.rx30`
   integration through integrations.services). During the window of 2, a fill is
   added at a fake every second; the stores' 30 registers (among the 1,500) pull every 15 s, and a
   probe terminal per store every 0.5 s. Latency from "entered the pharmacy system" (the /_control
   call) to "seen by a register" (dominated by the 15 s pull interval), and to "seen by the probe"
   (the hub-visible latency: the relay's 1 s poll plus the push, within the probe's 0.5 s).
4. Pickups: the sample stores' 30 registers upload an `rx_pickup` (every other one, and every flagged one, with a PNG signature) for
   every ready fill, one record per upload: pickups per second through gunicorn, and the time until
   the fake's /_state shows the invoice. Then the books: lost (a fill pushed or entered that the hub
   does not hold, a fill a register never saw, a pickup the pharmacy system never got) and
   duplicated (a fill invoiced twice at a fake, two pickups of one fill at the hub); the fakes'
   `repeats` (a resent invoice acknowledged, not applied) are shown apart.

Ends with RESULT pharmacy relay_push_per_s=… pulls_per_s=… pull_p99_ms=… ready_to_register_p99_ms=… lost=0 duplicated=0 …
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import free_port, recreate_database  # noqa: E402
from bench.pharmacy_fleet import (  # noqa: E402
    MERCHANTS,
    SAMPLE_STORES,
    _serve_fakes,
    books,
    build_fleet,
    problems_logged,
    start_gunicorn,
    start_relays,
)
from bench.pharmacy_load import in_process_costs, pickups, relay_push  # noqa: E402
from bench.pharmacy_pulls import closed_loop, pulls_and_latency, with_relay_traffic  # noqa: E402


def main() -> None:
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    env = {**os.environ, "DATABASE_URL": recreate_database(os.environ["DATABASE_URL"], "_bench_pharmacy"),
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "qiiub.settings", "DJANGO_DEBUG": "0",
           "PHARMACY_RELAY_POLL_S": "1", "PHARMACY_RELAY_HEARTBEAT_S": "2",
           "POS_ENROLL_RATE": "10000/minute"}  # the sample relays enroll over HTTP, all from 127.0.0.1
    os.environ.update(env)
    # The fakes fork before Django is loaded: they share nothing with the hub but HTTP.
    parent_pipe, child_pipe = multiprocessing.get_context("fork").Pipe()
    fakes = multiprocessing.get_context("fork").Process(target=_serve_fakes, args=(SAMPLE_STORES, child_pipe),
                                                        daemon=True)
    fakes.start()
    fake_ports = parent_pipe.recv()
    for command in (["migrate_schemas", "--shared"], ["load_registry"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    from django.db import connections

    fleet = build_fleet(fake_ports)
    connections.close_all()  # before the load processes fork
    setup_s = time.perf_counter() - started
    print(f"setup: {setup_s:.0f} s (database, {MERCHANTS} merchants with their schemas, enrollments)", flush=True)
    results: dict[str, str] = {}
    server, relays, logs = None, [], Path(tempfile.mkdtemp(prefix="bench-pharmacy-"))
    try:
        port = free_port()
        server = start_gunicorn(env, port, fleet, logs)
        results.update(relay_push(port, fleet))
        relays = start_relays(env, port, fleet, logs)
        results.update(pulls_and_latency(port, fleet))
        results.update(closed_loop(port, fleet))
        results.update(with_relay_traffic(port, fleet))
        results.update(in_process_costs(fleet))
        results.update(pickups(port, fleet))
        results.update(books(fleet))
    finally:
        for relay in relays:
            relay.terminate()
        for relay in relays:
            with contextlib.suppress(subprocess.TimeoutExpired):
                relay.wait(timeout=15)
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        parent_pipe.close()
        fakes.terminate()
    results.update(problems_logged(logs, relays))
    if results["log_problems"] == "0" and all(relay.returncode == 0 for relay in relays):
        shutil.rmtree(logs, ignore_errors=True)  # kept only to be read: the relays' queues, keys and logs
    results["setup_s"] = f"{setup_s:.0f}"
    results["total_s"] = f"{time.perf_counter() - started:.0f}"
    order = ["relay_push_per_s", "pulls_per_s", "pull_p99_ms", "ready_to_register_p99_ms", "lost", "duplicated"]
    print(f"whole run: {results['total_s']} s; load average (1 min) {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores (other processes' load skews every figure)",
          flush=True)
    print("RESULT pharmacy " + " ".join(f"{key}={results[key]}" for key in order) + " "
          + " ".join(f"{key}={value}" for key, value in results.items() if key not in order))



if __name__ == "__main__":
    main()
