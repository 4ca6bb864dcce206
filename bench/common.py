"""What the benchmarks share: a database of their own, free ports for their servers, and load run on
threads."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import psycopg


def recreate_database(url: str, suffix: str) -> str:
    """Drop and create `<database of url><suffix>`; returns its URL. Never the dev or test one."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") + suffix
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


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
