"""Liveness and readiness: unauthenticated, cheap, and saying nothing but ok or not ready; ready only
once a real worker has run beat's heartbeat."""

import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from qiiub.health import HEARTBEAT_KEY
from qiiub.tasks import heartbeat
from tests.factories import wait_for


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
