"""What the benchmarks share: a database of their own (fresh, or copied from a template built once),
free ports for their servers, and load run on threads."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg


def recreate_database(url: str, suffix: str) -> str:
    """Drop and create `<database of url><suffix>`; returns its URL. Never the dev or test one."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") + suffix
    with _maintenance(url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def fingerprint(paths: Iterable[Path], *, salt: str = "") -> str:
    """12 hex digits of SHA-256 over `salt` and the files' names and contents, in name order: a
    template built from them is out of date once this changes."""
    digest = hashlib.sha256(salt.encode())
    for path in sorted(paths):
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def template_database(url: str, name: str, *, build: Callable[[str], None], rebuild: bool = False,
                      stale_prefix: str = "") -> bool:
    """Make sure the database `name` (on the server of `url`) exists to be copied; returns whether it
    was built now. `build(url)` fills a fresh `<name>_building`, which is renamed only once `build`
    returned, so a build cut short is never copied. The template then takes no connections, so a
    copy never finds it in use; older templates (names starting with `stale_prefix`) are dropped."""
    with _maintenance(url) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    if exists and not rebuild:
        return False
    building = f"{name}_building"
    build(recreate_database(_with_database(url, building), ""))
    with _maintenance(url) as connection:
        _end_connections(connection, building)
        replaced = [name]
        if stale_prefix:
            replaced += [row[0] for row in connection.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s) AND datname NOT IN (%s, %s)",
                [stale_prefix, name, building])]
        for old in replaced:
            connection.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        connection.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        connection.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    return True


def clone_database(url: str, template: str, suffix: str) -> str:
    """Drop `<database of url><suffix>` and create it again as a copy of `template`; returns its URL.
    PostgreSQL copies the files (seconds, however many schemas it holds), and only a database
    nobody is connected to: any connection to the template is ended first."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") + suffix
    with _maintenance(url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _end_connections(connection, template)
        # FILE_COPY: a checkpoint, then a copy of the files. WAL_LOG (PostgreSQL 15's default) also writes the
        # whole template through the WAL on every run (180 MB at 200 merchants) and was no faster here (3–11 s).
        strategy = " STRATEGY = FILE_COPY" if connection.info.server_version >= 150000 else ""
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"{strategy}')
    return urlunsplit(parts._replace(path=f"/{name}"))


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _maintenance(url: str) -> psycopg.Connection:
    return psycopg.connect(_with_database(url, "postgres"), autocommit=True)


def _end_connections(connection: psycopg.Connection, database: str) -> None:
    connection.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        [database])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def in_threads(count: int, work: Callable[[int], list]) -> list:
    """Run `work(thread_index)` on `count` threads at once (a load process's connections) and
    return what they all returned, in one list."""
    results: list = []
    lock = threading.Lock()

    def run(thread_index: int) -> None:
        mine = work(thread_index)
        with lock:
            results.extend(mine)

    workers = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results


def keepalive_posts(host: str, port: int, path: str, *, threads: int, seconds: float, headers: dict,
                    body: dict) -> tuple[float, int]:
    """POSTs per second a local server answered from `threads` keep-alive connections for `seconds`, and how
    many failed (a refused connection, a reset, a status other than 2xx). Each request gets an Idempotency-Key
    of its own."""
    payload = json.dumps(body).encode()
    deadline = time.monotonic() + seconds

    def work(thread_index: int) -> list[bool]:
        outcomes, connection = [], http.client.HTTPConnection(host, port, timeout=10)
        while time.monotonic() < deadline:
            try:
                connection.request("POST", path, body=payload, headers={
                    **headers, "Content-Type": "application/json", "Idempotency-Key": f"probe-{thread_index}-{len(outcomes)}"})
                response = connection.getresponse()
                response.read()
                outcomes.append(200 <= response.status < 300)
            except OSError:
                outcomes.append(False)
                connection.close()  # http.client reconnects on the next request
        connection.close()
        return outcomes

    started = time.monotonic()
    outcomes = in_threads(threads, work)
    return len(outcomes) / (time.monotonic() - started), outcomes.count(False)
