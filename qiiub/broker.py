"""What the hub asks of Celery's broker besides sending tasks, the same on Redis and on RabbitMQ
(ADR 0047). Nothing else reads the broker's own storage: a Redis list is not a RabbitMQ queue."""

from __future__ import annotations

from qiiub.celery import app


def queue_depth(name: str) -> int:
    """Messages waiting in the queue `name` (0 when nobody has sent to it yet)."""
    with app.connection_for_read() as connection:
        queue = app.amqp.queues[name](connection.default_channel)
        try:
            return queue.queue_declare(passive=True).message_count
        except connection.channel_errors:  # never declared: nothing is waiting
            return 0
