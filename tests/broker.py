"""The tests' side of Celery's broker. Under RabbitMQ (`make test-rabbitmq`, ADR 0047) a queue is
durable and outlives the session unless deleted, and "the broker is down" is a proxy the test
stops: the machine's RabbitMQ is shared with other processes and no test stops it."""

from __future__ import annotations

import select
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import pytest

from qiiub.celery import app


def broker_is_amqp() -> bool:
    with app.connection_for_write() as connection:
        return connection.transport.driver_type == "amqp"


requires_rabbitmq = pytest.mark.skipif(not broker_is_amqp(), reason="needs RabbitMQ as the broker: make test-rabbitmq")

_queues_used: set[str] = set()


def queue_used(*names: str) -> None:
    """Remember queues a process of the tests consumes, for `queues_delete` at the end of the session."""
    _queues_used.update(names)


def queues_delete(also: set[str]) -> None:
    """Delete the queues `queue_used` named and `also`, with the exchanges of their names."""
    with app.connection_for_write() as connection:
        channel = connection.channel()
        for name in sorted(_queues_used | also):
            channel.queue_delete(name)
            channel.exchange_delete(name)


class BrokerProxy:
    """A TCP proxy in front of the broker: clients given `url` reach it, and `stop()` refuses new
    connections and cuts the open ones as a broker that stopped would; `start()` serves again."""

    def __init__(self, broker_url: str):
        parts = urlsplit(broker_url)
        self._upstream = (parts.hostname, parts.port or 5672)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self._port = probe.getsockname()[1]
        credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        self.url = urlunsplit((parts.scheme, f"{credentials}127.0.0.1:{self._port}", parts.path, "", ""))
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self._port))  # SO_REUSEADDR: the same port again
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

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
