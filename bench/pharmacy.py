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

import base64
import contextlib
import http.client
import io
import json
import multiprocessing
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/….py`
from bench.common import free_port, recreate_database  # noqa: E402

MERCHANTS, LOCATIONS, REGISTERS = 25, 20, 3  # 500 pharmacies, 1,500 registers
SAMPLE_STORES = 10  # with a real relay process and a PharmacyCOM fake each
READY_PER_STORE, PUSH_BATCH = 20, 5
PULL_EVERY_S = 15.0
WINDOW_S = 80.0  # registers pulling; fills entered at the fakes during the first ADDS seconds
ADDS, ADD_EVERY_S = 60, 1.0
CHANGES_PER_S = 3.0  # new fills pushed to random load stores during the window (some pulls get a 200)
PROBE_EVERY_S = 0.5
CLOSED_LOOP_SECONDS = 10
RELAY_WINDOW_S, RELAY_HEARTBEAT_S, RELAY_POLL_S = 30.0, 15.0, 5.0  # the settings' defaults, for the idle relays
LOAD_PROCESSES, LOAD_THREADS, CLOSED_THREADS = 2, 8, 4
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 4
READY_PATH = "/api/pos/v1/prescriptions"
RELAY_PATH = "/api/pos/v1/relay/"
TARGET_PULLS, TARGET_P99_MS = MERCHANTS * LOCATIONS * REGISTERS / PULL_EVERY_S, 50.0


# -- helpers shared by the processes ------------------------------------------------------------------------------------


class Client:
    """One kept-alive HTTP connection to the hub; reconnects once if the server closed it (every
    request here is idempotent: message ids and client UUIDs)."""

    def __init__(self, port: int):
        self.port = port
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, token: str, body: dict | None = None,
                etag: str = "") -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if etag:
            headers["If-None-Match"] = etag
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                return response.status, response.headers, response.read()
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def rx_number(store: int, number: int) -> str:
    return f"{store:03d}{number:05d}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def ready_change(store: int, number: int) -> dict:
    flagged = number % 4 == 0
    return {"message_id": str(uuid.uuid4()), "rx_number": rx_number(store, number), "fill_number": 1,
            "status": "ready", "amount_due": "12.50", "taxable": False, "patient_name": "RIVERA, ANA",
            "flags": [{"type": "hipaa", "required": True, "message": "HIPAA first time signature"}] if flagged else [],
            "ready_at": now_iso()}


def fake_prescription(store: int, number: int) -> dict:
    change = ready_change(store, number)
    return {key: change[key] for key in ("rx_number", "fill_number", "amount_due", "taxable", "patient_name", "flags")}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)] if ordered else float("nan")


def signature_png(width: int = 240, height: int = 60) -> bytes:
    """A small grayscale PNG with a stroke across it: what a signature pad sends (~1 KB)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows.append(0 if abs(y - height // 2 - int(12 * ((x % 40) / 20 - 1))) < 2 else 255)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")


# -- the pharmacy-system fakes, in a process of their own ---------------------------------------------------------------


def _serve_fakes(count: int, pipe) -> None:
    from simulators.pharmacycom import make_server

    servers = [make_server(demo=False) for _ in range(count)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    pipe.send([server.server_port for server in servers])
    with contextlib.suppress(EOFError):
        pipe.recv()  # until told to stop


def fake_call(port: int, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        content = response.read()
    return json.loads(content) if content else {}


# -- setup --------------------------------------------------------------------------------------------------------------


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


def build_fleet(fake_ports: list[int]) -> dict:
    from django.db import transaction

    from devices.models import EnrollmentPurpose
    from devices.terminals import enrollment_code_create, terminal_enroll
    from integrations.models import IntegrationDefinition
    from integrations.services import configuring, enabling
    from merchants.models import Location, Vertical
    from merchants.services import merchant_create
    from partners.models import Partner
    from pharmacy.relays import relay_enroll

    started = time.perf_counter()
    partner = Partner.objects.create(name="Bench pharmacies", slug="bench-pharmacies")
    with contextlib.redirect_stdout(io.StringIO()):
        for index in range(MERCHANTS):
            merchant_create(name=f"Farmacia {index}", slug=f"farmacia-{index:02d}", vertical=Vertical.PHARMACY,
                            partner=partner, module_codes=["core.pos", "pharmacy.rx"],
                            locations=[(f"F{number:02d}", f"Farmacia {index} #{number}", "San Juan")
                                       for number in range(LOCATIONS)])
    merchants_s = time.perf_counter() - started
    locations = list(Location.objects.filter(merchant__partner=partner).select_related("merchant")
                     .order_by("merchant_id", "code"))
    step = len(locations) // SAMPLE_STORES
    sample = [index * step + index % LOCATIONS for index in range(SAMPLE_STORES)]  # across merchants and codes
    stores = []
    rx30 = IntegrationDefinition.objects.get(code="pharmacy.rx30")
    for index, location in enumerate(locations):
        store = {"index": index, "location": location, "registers": [], "sample": index in sample}
        for number in range(REGISTERS):
            _, code = enrollment_code_create(location=location)
            store["registers"].append(terminal_enroll(code=code, name=f"Register {number + 1}")[1])
        if store["sample"]:
            _, code = enrollment_code_create(location=location)
            store["probe"] = terminal_enroll(code=code, name="Probe")[1]
            _, store["relay_code"] = enrollment_code_create(location=location, purpose=EnrollmentPurpose.RELAY)
            store["fake_port"] = fake_ports[sample.index(index)]
            with transaction.atomic():
                integration = enabling.merchant_integration_enable(merchant=location.merchant, definition=rx30,
                                                                   location=location, by=None)
                configuring.merchant_integration_configure(integration=integration, by=None, configuration={
                    "mode": "service", "server_host": "127.0.0.1", "server_port": store["fake_port"],
                    "use_tls": False})
        else:
            _, code = enrollment_code_create(location=location, purpose=EnrollmentPurpose.RELAY)
            store["relay_token"] = relay_enroll(code=code, name="Back office PC",
                                                public_key=base64.b64encode(os.urandom(32)).decode())[1]
        stores.append(store)
    print(f"fleet: {len(stores)} pharmacies of {MERCHANTS} merchants ({merchants_s:.0f} s for the merchants), "
          f"{len(stores) * REGISTERS} registers, {len(stores) - SAMPLE_STORES} relays enrolled in process and "
          f"{SAMPLE_STORES} sample stores with a fake and a relay code, in {time.perf_counter() - started:.0f} s",
          flush=True)
    return {"stores": stores, "load": [store for store in stores if not store["sample"]],
            "sample": [store for store in stores if store["sample"]], "pushed": Counter(), "entered": {},
            "seen": {}, "probe_seen": {}, "picked": {}}


def start_gunicorn(env: dict, port: int, fleet: dict, logs: Path) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "qiiub.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(GUNICORN_WORKERS),
         "-k", "gthread", "--threads", str(GUNICORN_THREADS), "--keep-alive", "30", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(logs / "gunicorn.log").open("wb"),
    )
    deadline = time.monotonic() + 30
    token = fleet["stores"][0]["registers"][0]
    while True:
        try:
            if Client(port).request("GET", READY_PATH, token)[0] == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit("gunicorn did not start")
        time.sleep(0.3)


# -- 1. relays pushing --------------------------------------------------------------------------------------------------


def _push_load(args) -> list[tuple[str, float, float, int, int]]:
    """One load process: threads, each taking its stores one after another: a heartbeat (the lease),
    then READY_PER_STORE ready fills in batches. Returns (kind, started, latency s, status, applied)."""
    port, stores, threads = args
    results: list[tuple[str, float, float, int, int]] = []
    lock = threading.Lock()

    def run(thread_index: int) -> None:
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
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


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


def start_relays(env: dict, port: int, fleet: dict, logs: Path) -> list[subprocess.Popen]:
    from django.db import connections

    for store in fleet["sample"]:
        fake_call(store["fake_port"], "/_control", {"reset": True, "add": [
            fake_prescription(store["index"], number) for number in range(READY_PER_STORE)]})
    relays = []
    started = time.perf_counter()
    for position, store in enumerate(fleet["sample"]):
        # Each at its own phase of the 2 s heartbeat, as relays started at different times are
        # (started together, their heartbeats and configs arrive in one burst every 2 s).
        time.sleep(max(0.0, started + position * 2.0 / len(fleet["sample"]) - time.perf_counter()))
        state_dir = logs / f"relay-{store['index']}"
        relays.append(subprocess.Popen(
            [sys.executable, "-m", "qiiub_relay", "--hub", f"http://127.0.0.1:{port}", "--state-dir", str(state_dir),
             "--enroll", store["relay_code"], "--name", "Back office PC", "--log-level", "WARNING"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(logs / f"relay-{store['index']}.log").open("wb")))
    waiting = {store["index"]: store for store in fleet["sample"]}
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        for index, store in list(waiting.items()):
            if len(hub_keys(store)) >= READY_PER_STORE:
                del waiting[index]
        for relay in relays:
            if relay.poll() is not None:
                raise SystemExit(f"a relay stopped with exit code {relay.returncode}: see {logs}")
        time.sleep(0.2)
    connections.close_all()
    if waiting:
        raise SystemExit(f"{len(waiting)} sample relays did not push their first {READY_PER_STORE} fills in 60 s")
    print(f"real relays: {len(relays)} `python -m qiiub_relay` enrolled, configured and pushed their store's "
          f"{READY_PER_STORE} fills from the fake in {time.perf_counter() - started:.1f} s", flush=True)
    return relays


def hub_keys(store: dict, status: str | None = None) -> set[str]:
    from django_tenants.utils import schema_context

    from pharmacy.store.models import Prescription

    location = store["location"]
    with schema_context(location.merchant.schema_name):
        found = Prescription.objects.filter(location_code=location.code)
        if status:
            found = found.filter(status=status)
        return set(found.values_list("rx_key", flat=True))


# -- 2 and 3. registers pulling, fills entered at the fakes -------------------------------------------------------------


def _open_loop(args) -> list[tuple[str, float, int]]:
    """One load process, open loop: each job (kind, token, ETag, offset, period) runs at its offset
    and then every period; latency is measured from the scheduled time, so a late answer delays
    nothing after it. `pull`: a register's ready list with If-None-Match (a 200 gives the register
    its new ETag); `heartbeat`: a relay's config (If-None-Match) then its heartbeat, as the relay
    does; `outbox`: a relay's outbox fetch. Returns [(kind, latency s, status)]."""
    port, jobs, seconds, threads, start_at = args
    results: list[tuple[str, float, int]] = []
    lock = threading.Lock()

    def run(thread_index: int) -> None:
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
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def _closed_loop(args) -> list[tuple[float, int]]:
    """One load process, closed loop: each connection pulls its registers' ready lists (unchanged:
    304) one after another as fast as they are answered. Returns [(latency s, status)]."""
    port, registers, seconds, threads, start_at = args
    results: list[tuple[float, int]] = []
    lock = threading.Lock()

    def run(thread_index: int) -> None:
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
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


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


def books(fleet: dict) -> dict:
    """Lost: a fill pushed or entered that the hub does not hold, a (fill, register) pair never
    seen, a pickup the hub or the pharmacy system does not have, an upload refused. Duplicated: a
    fill invoiced twice at its fake, a fill picked up twice at the hub."""
    from django.db.models import Count
    from django_tenants.utils import schema_context

    from pharmacy.store.models import MessageOutcome, OutboxMessage, Pickup, Prescription
    from qiiub.phi import rx_key

    time.sleep(3)  # the relays' last acknowledgements
    missing_rx = 0
    by_schema: dict[str, list[dict]] = {}
    for store in fleet["stores"]:
        by_schema.setdefault(store["location"].merchant.schema_name, []).append(store)
    outcomes = Counter()
    hub_pickups = hub_duplicates = 0
    for schema, stores in by_schema.items():
        with schema_context(schema):
            counts = dict(Prescription.objects.values_list("location_code").annotate(count=Count("pk")))
            for store in stores:
                code = store["location"].code
                if store["sample"]:
                    wanted = {rx_key(code, rx_number(store["index"], number), 1) for number in range(READY_PER_STORE)}
                    wanted |= {rx_key(code, number, 1) for number in fleet["entered"]
                               if number.startswith(f"{store['index']:03d}")}
                    missing_rx += len(wanted - hub_keys(store))
                else:
                    missing_rx += max(0, fleet["pushed"][store["index"]] - counts.get(code, 0))
            if any(store["sample"] for store in stores):
                outcomes.update(OutboxMessage.objects.values_list("outcome", flat=True))
                hub_pickups += Pickup.objects.count()
                hub_duplicates += sum(count - 1 for count in Pickup.objects.values("rx_key").annotate(
                    count=Count("pk")).values_list("count", flat=True) if count > 1)
    invoiced = Counter()
    repeats = 0
    for store in fleet["sample"]:
        state = fake_call(store["fake_port"], "/_state")
        repeats += state["repeats"]
        for invoice in state["rx_invoices"].values():
            for item in invoice["items"]:
                if not item["return"]:
                    invoiced[item["rx_number"]] += 1
    picked = fleet["picked"]
    missing_pickups = sum(number not in invoiced for number in picked) + max(0, len(picked) - hub_pickups)
    duplicated = sum(count - 1 for count in invoiced.values() if count > 1) + hub_duplicates
    lost = missing_rx + fleet["unseen"] + missing_pickups + fleet["upload_failures"]
    print(f"books: fills the hub lacks {missing_rx}, (fill, register) pairs unseen {fleet['unseen']}, pickups not at "
          f"the pharmacy system {missing_pickups} (hub holds {hub_pickups} of {len(picked)}; outbox "
          f"{outcomes[MessageOutcome.DELIVERED]} delivered, {outcomes[MessageOutcome.REFUSED]} refused, "
          f"{outcomes[MessageOutcome.PENDING]} pending), uploads refused {fleet['upload_failures']} → lost {lost}; "
          f"fills invoiced twice {duplicated - hub_duplicates}, picked up twice at the hub {hub_duplicates} → "
          f"duplicated {duplicated}; invoices resent and acknowledged without applying (repeats) {repeats}", flush=True)
    return {"lost": str(lost), "duplicated": str(duplicated), "repeats": str(repeats),
            "outbox_refused": str(outcomes[MessageOutcome.REFUSED]), "outbox_pending": str(outcomes[MessageOutcome.PENDING])}


def problems_logged(logs: Path, relays: list[subprocess.Popen]) -> dict:
    """What gunicorn and the relays said above INFO (tracebacks, refusals), and how the relays ended."""
    lines = []
    for path in sorted(logs.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if any(word in line for word in ("ERROR", "CRITICAL", "Traceback", "level=WARNING", "error")):
                lines.append(f"{path.name}: {line[:300]}")
    exits = Counter(relay.returncode for relay in relays)
    print(f"logs ({logs}): {len(lines)} warning/error lines; relay exit codes {dict(exits)}", flush=True)
    for line in lines[:15]:
        print(f"  {line}", flush=True)
    return {"log_problems": str(len(lines))}


if __name__ == "__main__":
    main()
