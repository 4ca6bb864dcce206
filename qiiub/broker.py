"""What the hub asks of Celery's broker besides sending tasks, the same on Redis and on RabbitMQ
(ADR 0047). Nothing else reads the broker's own storage: a Redis list is not a RabbitMQ queue."""

from __future__ import annotations

from django.conf import settings

from qiiub.celery import app


def hub_queues() -> list[str]:
    """The queues the hub's workers consume: the default one (events, alerts) and the polls'."""
    return sorted({app.conf.task_default_queue, settings.CELERY_POLL_QUEUE})


def queue_depths(names: list[str]) -> dict[str, int]:
    """Messages waiting in each queue of `names` (0 for one nobody has sent to yet), over one
    connection that gives up after one quick attempt: a broker that is away raises, it is not waited for."""
    depths = {}
    with app.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        for name in names:
            # A channel each: on RabbitMQ, asking after a queue that does not exist closes the channel.
            with connection.channel() as channel:
                try:
                    depths[name] = app.amqp.queues[name](channel).queue_declare(passive=True).message_count
                except connection.channel_errors:  # never declared: nothing is waiting
                    depths[name] = 0
    return depths


def queue_depth(name: str) -> int:
    """Messages waiting in the queue `name` (0 when nobody has sent to it yet)."""
    return queue_depths([name])[name]
