"""The tests' side of Celery's broker. Under RabbitMQ (`make test-rabbitmq`, ADR 0047) a queue is
durable and outlives the session unless deleted; "the broker is down" is a proxy the test stops
(`tests.processes.TcpProxy`): the machine's RabbitMQ is shared with other processes and no test stops it."""

from __future__ import annotations

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
