"""Under gunicorn each worker process counts its own requests; with PROMETHEUS_MULTIPROC_DIR the
scrape, whichever worker answers it, reports the sum of them all."""

import socket
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings

from tests.factories import wait_for
from tests.metrics.conftest import Scrape

pytestmark = pytest.mark.slow

REQUESTS = 40
AT_ONCE = 10  # concurrent requests keep both workers busy, so each serves a share
SCRAPES = 6


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:  # a connection of its own each time
        return answer.read()


def _answers(url: str) -> bool:
    try:
        _get(url)
        return True
    except OSError:
        return False


@pytest.fixture
def gunicorn_with_two_workers(process_env, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "qiiub.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        env={**process_env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _answers(f"{url}/metrics")), "gunicorn did not start"
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_every_scrape_reports_the_requests_of_every_gunicorn_worker(gunicorn_with_two_workers):
    url = gunicorn_with_two_workers
    with ThreadPoolExecutor(AT_ONCE) as pool:
        assert set(pool.map(_get, [f"{url}/healthz"] * REQUESTS)) == {b"ok"}

    for _ in range(SCRAPES):  # answered by either worker
        scrape = Scrape(_get(f"{url}/metrics").decode())
        assert scrape.value("qiiub_http_request_duration_seconds_count", view="healthz", method="GET",
                            status_class="2xx") == REQUESTS
