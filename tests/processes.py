"""Real processes the tests start (Celery workers, portal servers) and a TCP proxy a test stops to
make an outage of the service behind it, without stopping the service other processes share."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from django.conf import settings

from tests.broker import queue_used


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_started(process, name: str, ready, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode}")
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{name} did not start within {seconds:.0f} s")


def poll_queue_of(queue: str) -> str:
    return f"{queue}-poll"


def start_worker(process_env: dict, queue: str, *, concurrency: int = 2, imports: str = "tests.sandbox_vendors",
                 log: Path | None = None, **environment: str) -> subprocess.Popen:
    """Start a real Celery worker (prefork) on `queue` and its poll queue, wait until it answers.
    Its output goes to `log` (else nowhere); `environment` goes over the session's."""
    output = log.open("wb") if log else subprocess.DEVNULL
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "qiiub", "worker", "-Q", f"{queue},{poll_queue_of(queue)}",
         "-c", str(concurrency), "-l", "info", "--without-mingle", "--without-gossip", "-n", f"{queue}@%h",
         "-I", imports],
        env={**process_env, "CELERY_QUEUE": queue, "CELERY_POLL_QUEUE": poll_queue_of(queue), **environment},
        cwd=settings.BASE_DIR,
        stdout=output,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so a test can kill -9 all of it
    )
    if log:
        output.close()
    queue_used(queue, poll_queue_of(queue))
    node = f"{queue}@{socket.gethostname()}"
    broker = process_env.get("CELERY_BROKER_URL") or process_env["REDIS_URL"]  # its broker, as settings choose it
    control = Celery(broker=broker, set_as_current=False).control
    wait_until_started(worker, "the Celery worker", lambda: bool(control.ping(destination=[node], timeout=0.5)))
    return worker


def stop_worker(worker) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)


def start_portal(process_env: dict, *, log: Path | None = None, **environment: str) -> tuple[subprocess.Popen, str]:
    """Start the portal in a real HTTP server process on a free port, against the test database, with
    `environment` over the session's and its output in `log` (else nowhere); wait until it answers."""
    port = free_port()
    output = log.open("wb") if log else subprocess.DEVNULL
    server = subprocess.Popen(
        [sys.executable, "tests/serve_portal.py", f"127.0.0.1:{port}"],
        env={**process_env, **environment},
        cwd=settings.BASE_DIR,
        stdout=output,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    if log:
        output.close()
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1)
            return True
        except OSError:
            return False

    wait_until_started(server, "the portal", answers)
    return server, url


def serve_portal(process_env: dict, **environment: str):
    """The portal as `start_portal` serves it, for a fixture: yields its URL and stops it afterwards."""
    server, url = start_portal(process_env, **environment)
    yield url
    server.terminate()
    server.wait(timeout=10)


class TcpProxy:
    """A TCP proxy in front of the service at `service_url`: clients given `url` reach it, and
    `stop()` refuses new connections and cuts the open ones as a service that stopped would;
    `start()` serves again on the same port."""

    def __init__(self, service_url: str, default_port: int):
        parts = urlsplit(service_url)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or default_port)
        self._port = free_port()
        credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        self.url = urlunsplit((parts.scheme, f"{credentials}127.0.0.1:{self._port}", parts.path, parts.query, ""))
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        self._listener = socket.create_server(("127.0.0.1", self._port))  # SO_REUSEADDR: the same port again
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is None:
            return
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread waiting in accept()
        self._listener.close()
        self._listener = None
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # stopped
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(one: socket.socket, other: socket.socket) -> None:
        peers = {one: other, other: one}
        try:
            while True:
                readable, _, _ = select.select(list(peers), [], [])
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):  # cut by stop(), or the peer went away
            return
        finally:
            one.close()
            other.close()
