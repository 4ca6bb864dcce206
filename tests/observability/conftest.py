"""Real portal and worker processes whose log lines a test reads, Sentry's ingest stand-in, and a TCP
proxy in front of PostgreSQL that a test stops to make a real outage."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from simulators.sentry_ingest import SentryIngest
from tests.processes import TcpProxy, start_portal, start_worker

TEST_TASKS = "tests.observability.tasks"


@pytest.fixture
def postgres_proxy(process_env):
    """PostgreSQL through a proxy the test cuts (`stop()`); its `url` is the session's database through it."""
    proxy = TcpProxy(process_env["DATABASE_URL"], 5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def sentry_ingest():
    ingest = SentryIngest().start()
    yield ingest
    ingest.stop()


class LoggedProcess:
    """A process started by a test, its stdout and stderr in one file."""

    def __init__(self, process: subprocess.Popen, log_path: Path):
        self.process, self.log_path = process, log_path

    def lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def json_lines(self) -> list[dict]:
        """The lines that are JSON objects (a server may print a banner too)."""
        found = []
        for line in self.lines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                found.append(entry)
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


def portal_logged(process_env: dict, log_path: Path, **environment: str) -> tuple[LoggedProcess, str]:
    """The portal served by a real HTTP server on a free port, its log in `log_path`."""
    process, url = start_portal(process_env, log=log_path, **environment)
    return LoggedProcess(process, log_path), url


def worker_logged(process_env: dict, log_path: Path, **environment: str) -> tuple[LoggedProcess, str]:
    """A real Celery worker (prefork, 1 process) on a queue of its own, with the test tasks, its log in `log_path`."""
    queue = f"obs-{uuid.uuid4().hex[:8]}"
    worker = start_worker(process_env, queue, concurrency=1, imports=f"tests.sandbox_vendors,{TEST_TASKS}",
                          log=log_path, **environment)
    return LoggedProcess(worker, log_path), queue
