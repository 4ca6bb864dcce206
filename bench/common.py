"""What the benchmarks share: a database of their own, and free ports for their servers."""

from __future__ import annotations

import socket
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
