"""Celery's broker: queue depths read the same on Redis and RabbitMQ; on RabbitMQ (`make
test-rabbitmq`) quorum queues, publisher confirms, countdowns waiting in RabbitMQ, and readiness
checking RabbitMQ itself."""

import socket
import time
import urllib.request
import uuid
from urllib.error import HTTPError
from urllib.parse import urlsplit, urlunsplit

import pytest
from amqp.exceptions import MessageNacked, PreconditionFailed
from django.conf import settings
from django.core.cache import cache
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError

from qiiub.broker import queue_depth
from qiiub.celery import app
from qiiub.health import HEARTBEAT_KEY, heartbeat_record
from qiiub.tasks import heartbeat
from tests.broker import queue_used, requires_rabbitmq
from tests.factories import wait_for
from tests.processes import poll_queue_of, serve_portal


def _purge(name: str) -> None:
    with app.connection_for_write() as connection:
        app.amqp.queues[name](connection.default_channel).purge()


def test_queue_depth_counts_the_tasks_waiting_in_a_queue_on_either_broker():
    queue = f"depth-{uuid.uuid4().hex[:8]}"
    assert queue_depth(queue) == 0  # nobody sent to it yet
    try:
        for _ in range(3):
            heartbeat.apply_async(queue=queue)
        assert queue_depth(queue) == 3
    finally:
        _purge(queue)
    assert queue_depth(queue) == 0


@requires_rabbitmq
@pytest.mark.slow
def test_on_rabbitmq_the_workers_queues_are_quorum_queues(celery_worker_process):
    queue = app.conf.task_default_queue
    with app.connection_for_write() as connection:
        for name in (queue, poll_queue_of(queue)):
            # RabbitMQ refuses to redeclare a queue as another type, naming the type it has
            with pytest.raises(PreconditionFailed, match="current is 'quorum'"):
                connection.channel().queue_declare(name, durable=True, auto_delete=False,
                                                 arguments={"x-queue-type": "classic"})


@requires_rabbitmq
def test_a_task_rabbitmq_refuses_is_an_error_for_the_sender_not_a_silent_loss():
    # given a queue that holds one message and refuses the next (a classic one: a quorum queue
    # enforces its length a message late)
    name = f"full-{uuid.uuid4().hex[:8]}"
    queue_used(name)
    full = Queue(name, Exchange(name, "topic"), name, queue_arguments={
        "x-queue-type": "classic", "x-max-length": 1, "x-overflow": "reject-publish"})
    heartbeat.apply_async(queue=full)

    # when a second task is sent to it, then the send fails: RabbitMQ's publisher confirm said no
    with pytest.raises(OperationalError) as refused:
        heartbeat.apply_async(queue=full)
    assert isinstance(refused.value.__cause__, MessageNacked)
    assert queue_depth(name) == 1


@requires_rabbitmq
@pytest.mark.slow
def test_a_countdown_waits_in_rabbitmq_not_in_the_worker_and_then_runs(celery_worker_process):
    # given no heartbeat yet
    cache.delete(HEARTBEAT_KEY)
    node = f"{app.conf.task_default_queue}@{socket.gethostname()}"

    # when a task is sent with a 6 s countdown
    sent_at = time.monotonic()
    heartbeat.apply_async(countdown=6)

    # then meanwhile the worker holds nothing (the message waits in RabbitMQ's delay queues)
    time.sleep(1)
    assert app.control.inspect(destination=[node], timeout=2).scheduled() == {node: []}
    assert cache.get(HEARTBEAT_KEY) is None
    # and the worker runs it once the countdown is over
    assert wait_for(lambda: cache.get(HEARTBEAT_KEY) is not None, 30)
    assert time.monotonic() - sent_at >= 6


def _readyz_status(process_env: dict, broker_url: str) -> int:
    """/readyz of a portal process whose broker is `broker_url`, just after a heartbeat was recorded
    (its database, cache and heartbeat are fine: only the broker can fail it)."""
    portal = serve_portal(process_env, CELERY_BROKER_URL=broker_url)
    url = next(portal)
    try:
        heartbeat_record()
        return urllib.request.urlopen(f"{url}/readyz", timeout=10).status
    except HTTPError as answer:
        return answer.code
    finally:
        next(portal, None)  # stops it


@requires_rabbitmq
@pytest.mark.slow
def test_readyz_checks_rabbitmq_itself_and_a_wrong_amqp_url_is_not_ready(process_env):
    broker = urlsplit(settings.CELERY_BROKER_URL)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    wrong = {
        "a closed port": broker._replace(netloc=f"{broker.username}:{broker.password}@127.0.0.1:{closed_port}"),
        "an unknown virtual host": broker._replace(path="/no-such-vhost"),
        "a wrong password": broker._replace(netloc=f"{broker.username}:wrong-{broker.password}@{broker.hostname}"
                                                   f":{broker.port or 5672}"),
    }

    assert _readyz_status(process_env, settings.CELERY_BROKER_URL) == 200
    assert {name: _readyz_status(process_env, urlunsplit(url)) for name, url in wrong.items()} == {
        name: 503 for name in wrong}
