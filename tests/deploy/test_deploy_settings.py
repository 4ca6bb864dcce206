"""Deploy-grade settings: Django's deployment checklist passes in production, and gunicorn with
deploy/gunicorn.conf.py serves the hub over HTTPS only, the probes over plain HTTP too."""

import subprocess
import sys
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.db import connection

from tests.processes import free_port

pytestmark = pytest.mark.security


def test_the_deployment_checklist_passes_in_production(production_env):
    check = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                           env=production_env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120)

    assert check.returncode == 0, check.stderr
    assert "System check identified no issues" in check.stdout


def test_production_refuses_to_start_with_a_development_key(production_env):
    check = subprocess.run([sys.executable, "manage.py", "check"], env={**production_env, "PHI_KEYS": settings.DEV_PHI_KEY},
                           cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120)

    assert check.returncode == 1 and "development settings: PHI_KEYS" in check.stderr


@pytest.fixture
def gunicorn(production_env):
    """gunicorn as deploy/systemd/qiiub-web.service runs it, against the test database, behind a
    pretend proxy (X-Forwarded-Proto)."""
    port, application_name = free_port(), f"qiiub-web-test-{uuid.uuid4().hex[:8]}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py"],
        env={**production_env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2",
             "GUNICORN_THREADS": "3", "DB_APPLICATION_NAME": application_name,
             "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"},
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/healthz", timeout=5)
                break
            except requests.RequestException:  # not listening yet, or its workers still booting
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.3)
        yield url, application_name, server
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=40)


@pytest.mark.slow
def test_gunicorn_serves_over_https_only_but_the_probes_over_plain_http(committed, gunicorn):
    url, application_name, server = gunicorn
    https = {"X-Forwarded-Proto": "https"}

    assert requests.get(f"{url}/healthz", timeout=5).text == "ok"
    assert requests.get(f"{url}/readyz", timeout=10).status_code in (200, 503)  # answered, not redirected
    plain = requests.get(f"{url}/accounts/login/?next=/portal/", allow_redirects=False, timeout=5)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    page = requests.get(f"{url}/accounts/login/?next=/portal/", headers=https, timeout=5)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]
    assert "Secure" in page.headers["Set-Cookie"]
    for _ in range(12):  # more requests than threads, over both processes
        assert requests.get(f"{url}/accounts/login/", headers=https, timeout=5).status_code == 200
    with connection.cursor() as cursor:  # each process's pool holds at most its threads' worth
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        held = cursor.fetchone()[0]

    server.terminate()
    log = server.communicate(timeout=40)[0]
    assert 1 <= held <= 2 * 3
    assert '"GET /accounts/login/ HTTP/1.1" 200' in log and "next=" not in log  # paths only, no query strings
