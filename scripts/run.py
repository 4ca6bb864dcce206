#!/usr/bin/env python3
"""`make run`: prepare the database and demo, then run portal + worker + beat + the vendor
simulators (demo, QuickBooks) until Ctrl-C, which stops everything this script started. Expects DATABASE_URL / REDIS_URL
(set by scripts/services.py through the Makefile)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from seeds import DEMO_PASSWORD  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = os.environ.get("PORT", "8000")
# The vendor simulators the demo talks to: (log name, module, the setting that points at it, port).
SIMULATORS = [
    ("simulator", "simulators.demo", "DEMO_BASE_URL", "8765"),
    ("quickbooks", "simulators.quickbooks", "QBO_BASE_URL", "8766"),
    ("xero", "simulators.xero", "XERO_BASE_URL", "8767"),
    ("acumatica", "simulators.acumatica", "ACUMATICA_BASE_URL", "8768"),
    ("shopify", "simulators.shopify", "SHOPIFY_BASE_URL", "8769"),
]
for _name, _module, _setting, _port in SIMULATORS:
    os.environ.setdefault(_setting, f"http://127.0.0.1:{_port}")

children: list[subprocess.Popen] = []


def manage(*args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=ROOT, check=True)


def start(name: str, *args: str) -> None:
    log = open(ROOT / ".run" / f"{name}.log", "ab")
    children.append(subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))


def wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s; see .run/*.log")


def stop(*_args) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
    print("\nstopped portal, worker, beat and simulators.")
    sys.exit(0)


def main() -> None:
    (ROOT / ".run").mkdir(exist_ok=True)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, module, setting, _port in SIMULATORS:
        start(name, PY, "-m", module, "--port", os.environ[setting].rsplit(":", 1)[1])
        wait_for(f"{os.environ[setting]}/health")
    manage("migrate_schemas", "--shared")
    manage("migrate_schemas", "--tenant", "--executor=multiprocessing")
    manage("load_registry")
    manage("seed_demo")
    start("portal", PY, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload")
    start("worker", PY, "-m", "celery", "-A", "qiiub", "worker", "-l", "info", "-c", "2",
          "-Q", f"{os.environ.get('CELERY_QUEUE', 'celery')},{os.environ.get('CELERY_POLL_QUEUE', 'integration-poll')}")
    start("beat", PY, "-m", "celery", "-A", "qiiub", "beat", "-l", "info")
    wait_for(f"http://127.0.0.1:{PORT}/accounts/login/")
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
  Vendor simulators: QuickBooks {os.environ['QBO_BASE_URL']}, Xero {os.environ['XERO_BASE_URL']},
    Acumatica {os.environ['ACUMATICA_BASE_URL']}, Shopify {os.environ['SHOPIFY_BASE_URL']}
    (each shows what it received at /_state)
  Logs: .run/portal.log .run/worker.log .run/beat.log .run/<simulator>.log
Ctrl-C stops everything.""",
        flush=True,
    )
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"a process exited ({' '.join(child.args[:4])}); stopping the rest.")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
