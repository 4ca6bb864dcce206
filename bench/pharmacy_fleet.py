"""The pharmacy benchmark's fleet: 500 stores with their relays, registers and fakes, the hub under
gunicorn, its sizes and the books kept at the end (`bench/pharmacy.py` runs it)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import io
import json
import os
import struct
import subprocess
import sys
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
