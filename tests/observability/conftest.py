"""Real portal and worker processes whose log lines a test reads, Sentry's ingest stand-in, and a TCP
proxy in front of PostgreSQL that a test cuts to make a real outage."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from celery import Celery
from django.conf import settings

from simulators.sentry_ingest import SentryIngest
from tests.conftest import _wait_until_started, poll_queue_of

TEST_TASKS = "tests.observability.tasks"


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target`; `cut()` closes it and every connection through it."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            sink.close()

    def cut(self) -> None:
        # Shut down first: a close alone leaves the socket listening while a thread waits in accept().
        for connection in (self.listener, *self.sockets):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()


def database_url_through(proxy: TcpProxy, database_url: str) -> str:
    parts = urlsplit(database_url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{proxy.port}"))


@pytest.fixture
def postgres_proxy(process_env):
    parts = urlsplit(process_env["DATABASE_URL"])
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield proxy
    proxy.cut()


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


def _started(command: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT)


def portal_logged(process_env: dict, log_path: Path, **environment: str) -> tuple[LoggedProcess, str]:
    """The portal served by a real HTTP server on a free port, its log in `log_path`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    process = _started([sys.executable, "tests/serve_portal.py", f"127.0.0.1:{port}"],
                       {**process_env, **environment}, log_path)

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            return True
        except OSError:
            return False

    _wait_until_started(process, "the portal", answers)
    return LoggedProcess(process, log_path), url


def worker_logged(process_env: dict, log_path: Path, **environment: str) -> tuple[LoggedProcess, str]:
    """A real Celery worker (prefork, 1 process) on a queue of its own, with the test tasks, its log in `log_path`."""
    queue = f"obs-{uuid.uuid4().hex[:8]}"
    env = {**process_env, "CELERY_QUEUE": queue, "CELERY_POLL_QUEUE": poll_queue_of(queue), **environment}
    process = _started(
        [sys.executable, "-m", "celery", "-A", "qiiub", "worker", "-Q", f"{queue},{poll_queue_of(queue)}", "-c", "1",
         "-l", "info", "--without-mingle", "--without-gossip", "-n", f"{queue}@%h",
         "-I", f"tests.sandbox_vendors,{TEST_TASKS}"],
        env, log_path)
    node = f"{queue}@{socket.gethostname()}"
    control = Celery(broker=process_env["REDIS_URL"], set_as_current=False).control
    _wait_until_started(process, "the Celery worker", lambda: bool(control.ping(destination=[node], timeout=0.5)))
    return LoggedProcess(process, log_path), queue
