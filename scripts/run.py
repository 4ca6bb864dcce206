#!/usr/bin/env python3
"""`make run`: prepare the database and demo, then run portal + worker + beat + the vendor
simulators until Ctrl-C, which stops everything this script started. A process that dies is started
again (scripts/supervisor.py). Expects DATABASE_URL / REDIS_URL (set by scripts/services.py through
the Makefile)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.supervisor import GaveUp, Supervisor  # noqa: E402
from seeds import DEMO_PASSWORD  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = os.environ.get("PORT", "8000")


def _simulators() -> list:
    """Every fake in simulators/ that names the setting it serves (SERVES) and its port (PORT)."""
    import simulators

    modules = [importlib.import_module(f"simulators.{info.name}") for info in pkgutil.iter_modules(simulators.__path__)]
    return [module for module in modules if hasattr(module, "SERVES")]


SIMULATORS = _simulators()
for _simulator in SIMULATORS:
    os.environ.setdefault(_simulator.SERVES, f"http://127.0.0.1:{_simulator.PORT}")

supervisor = Supervisor(cwd=ROOT, log_dir=ROOT / ".run", say=lambda line: print(line, flush=True))


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s; see .run/*.log")


def start_demo_relay() -> None:
    """The demo pharmacy's store relay, enrolled afresh each run, against the Rx30-mode simulator."""
    state_dir = ROOT / ".run" / "relay"
    shutil.rmtree(state_dir, ignore_errors=True)
    code = subprocess.run([PY, "manage.py", "demo_pharmacy_relay", "--code"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    run_relay = [PY, "-m", "qiiub_relay", "--hub", f"http://127.0.0.1:{PORT}", "--state-dir", str(state_dir)]
    # Enrolled once; started again, it runs on its enrollment (its state directory).
    supervisor.start("relay", *run_relay, "--enroll", code, "--name", "Santurce back office", restart_argv=run_relay)
    if subprocess.run([PY, "manage.py", "demo_pharmacy_relay", "--activate"], cwd=ROOT).returncode:
        print("The demo relay did not report: Rx30 stays configuring (see .run/relay.log).", flush=True)


def stop(*_args) -> None:
    supervisor.stop()
    print("\nstopped portal, worker, beat, the pharmacy relay and simulators.")
    sys.exit(0)


def main() -> None:
    (ROOT / ".run").mkdir(exist_ok=True)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for simulator in SIMULATORS:
        name = simulator.__name__.rsplit(".", 1)[1]
        supervisor.start(name, PY, "-m", simulator.__name__, "--port", os.environ[simulator.SERVES].rsplit(":", 1)[1])
        wait_for(f"{os.environ[simulator.SERVES]}/health")
    manage("migrate_schemas", "--shared")
    manage("migrate_schemas", "--tenant", "--executor=multiprocessing")
    manage("load_registry")
    manage("seed_demo")
    # The portal pools its database connections as in production (ADR 0046): a burst of requests
    # waits for one of DB_POOL_MAX connections instead of opening more than PostgreSQL allows.
    supervisor.start("portal", PY, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload",
                     env={**os.environ, "DB_POOL_MAX": os.environ.get("DB_POOL_MAX", "8")})
    supervisor.start("worker", PY, "-m", "celery", "-A", "qiiub", "worker", "-l", "info", "-c", "2",
          "-Q", f"{os.environ.get('CELERY_QUEUE', 'celery')},{os.environ.get('CELERY_POLL_QUEUE', 'integration-poll')}")
    supervisor.start("beat", PY, "-m", "celery", "-A", "qiiub", "beat", "-l", "info")
    wait_for(f"http://127.0.0.1:{PORT}/accounts/login/")
    start_demo_relay()
    print(
        f"""
QIIUB Integration Hub is running.
  Portal:        http://127.0.0.1:{PORT}/
  Django admin:  http://127.0.0.1:{PORT}/admin/
  Logins (password {DEMO_PASSWORD}):
    sysadmin          SystemAdmin (Django admin)
    pharmatech-admin  partner admin, PharmaTech (5 pharmacies)
    sanjuan-admin     merchant admin, Farmacia San Juan
    colmado-admin     merchant admin, Colmado Rivera
  POS sync API:  http://127.0.0.1:{PORT}/api/pos/v1/openapi.json
    (a merchant admin creates a terminal's enrollment code under Terminals; the terminal
     POSTs it to /api/pos/v1/enroll and gets its token)
  Money: each merchant's Money page ties yesterday's tills to the card processor (Stripe for
    Farmacia San Juan, ATH Móvil for Colmado Rivera), the books and the IVU return; a sale's
    card tender is refunded from its page
  Pharmacy: Farmacia San Juan's Santurce store runs a relay (.run/relay.log) to the Rx30-mode
    simulator; its ready prescriptions are on the store's Pharmacy page and at
    /api/pos/v1/prescriptions for the store's terminals
  Vendor simulators: {", ".join(f"{simulator.NAME} {os.environ[simulator.SERVES]}" for simulator in SIMULATORS)}
    (each shows what it received at /_state)
  Logs: .run/portal.log .run/worker.log .run/beat.log .run/relay.log .run/<simulator>.log
A process that dies is started again. Ctrl-C stops everything.""",
        flush=True,
    )
    try:
        supervisor.run_forever()
    except GaveUp as gave_up:
        print(f"{gave_up} Stopping the rest.", flush=True)
        supervisor.stop()
        sys.exit(1)


if __name__ == "__main__":
    main()
