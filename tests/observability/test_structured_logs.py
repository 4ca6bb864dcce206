"""Structured logs: one JSON line per event, a request followed by its id into the tasks it queued
(and the tasks they queued), and no card number, secret or patient name in any line."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid

import pytest
import requests
from django.conf import settings
from django.urls import reverse

from integrations.models import IntegrationSyncLog
from qiiub.celery import app
from qiiub.log_context import LogContextFilter, request_id_var
from qiiub.logs import JsonFormatter, KeyValueFormatter
from seeds import DEMO_PASSWORD
from tests.factories import active_acumatica, wait_for
from tests.observability.conftest import portal_logged, worker_logged
from tests.processes import poll_queue_of
from tests.production import production_keys

CARD_NUMBER = "4111111111111111"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def _logged(formatter: logging.Formatter, emit) -> str:
    """What `emit(logger)` writes through the hub's filter and `formatter`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(LogContextFilter())
    logger = logging.getLogger(f"tests.observability.{uuid.uuid4().hex[:6]}")
    logger.addHandler(handler)
    logger.propagate = False
    emit(logger)
    return stream.getvalue()


@pytest.mark.security
@pytest.mark.parametrize("formatter", [JsonFormatter(), KeyValueFormatter("%(levelname)s %(name)s %(message)s")],
                         ids=["json", "plain"])
def test_a_log_line_shows_no_card_number_token_or_patient_name(formatter):
    # when a line is logged with a card number in its message, a token-named extra and a patient's name
    def emit(logger):
        logger.warning("tender %s refused", f"{CARD_NUMBER[:4]} {CARD_NUMBER[4:]}",
                       extra={"access_token": "tok-abc123", "patient_name": "María Cartagena", "integration_id": 7,
                              "detail": {"client_secret": "shh", "card": CARD_NUMBER}})

    line = _logged(formatter, emit)

    # then none of them is in it, and the rest is
    for shown_never in ("tok-abc123", "María Cartagena", "shh", CARD_NUMBER, CARD_NUMBER[4:]):
        assert shown_never not in line
    assert "integration_id" in line and "tender 4111 11XXXXXX1111 refused" in line


def test_a_json_line_has_time_level_logger_message_context_and_extras():
    token = request_id_var.set("req-123")
    try:
        line = _logged(JsonFormatter(), lambda logger: logger.info("integration.paused", extra={"integration_id": 7}))
    finally:
        request_id_var.reset(token)

    entry = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry.pop("time"))
    assert entry == {"level": "INFO", "logger": entry["logger"], "message": "integration.paused",
                     "integration_id": 7, "request_id": "req-123"}


def test_the_plain_format_shows_the_request_id_when_there_is_one():
    token = request_id_var.set("req-456")
    try:
        line = _logged(KeyValueFormatter("%(message)s"), lambda logger: logger.info("integration.paused"))
    finally:
        request_id_var.reset(token)

    assert line.strip() == "integration.paused request_id=req-456"


def _logged_by_a_process(**environment: str) -> str:
    """The last line a fresh process configured by the settings writes for one warning."""
    result = subprocess.run(
        [sys.executable, "-c", "import django, logging; django.setup(); logging.getLogger('x').warning('hello')"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "qiiub.settings", **environment},
        cwd=settings.BASE_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_production_logs_json_by_default_and_development_plain():
    production = production_keys()

    assert json.loads(_logged_by_a_process(**production))["message"] == "hello"
    assert _logged_by_a_process(QIIUB_ENV="development").endswith(" WARNING x hello")


def test_the_request_id_sent_is_answered_back(client):
    answer = client.get(reverse("healthz"), HTTP_X_REQUEST_ID="lb-7f3a.42_x")
    assert answer["X-Request-ID"] == "lb-7f3a.42_x"


@pytest.mark.parametrize("sent", [None, "", "x" * 65, "has space", "line\nbreak", "ünïcode", CARD_NUMBER,
                                  "4111-1111-1111-1111"])
def test_a_missing_or_malformed_request_id_is_replaced_by_a_generated_one(client, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    answer = client.get(reverse("healthz"), **headers)
    assert GENERATED_ID.fullmatch(answer["X-Request-ID"])


def test_the_request_id_middleware_comes_first():
    assert settings.MIDDLEWARE[0] == "qiiub.log_context.RequestIdMiddleware"


def _signed_in(url: str, username: str) -> requests.Session:
    browser = requests.Session()
    browser.get(f"{url}/accounts/login/", timeout=10)
    answer = browser.post(f"{url}/accounts/login/", timeout=10, data={
        "username": username, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": browser.cookies["csrftoken"]})
    assert answer.ok and "sessionid" in browser.cookies
    return browser


@pytest.mark.slow
def test_a_request_is_followed_by_its_id_into_the_task_it_queued(committed, process_env, acumatica_fake, tmp_path):
    # given a portal and a worker logging JSON, on the same queues
    worker, queue = worker_logged(process_env, tmp_path / "worker.log", LOG_FORMAT="json")
    portal, url = portal_logged(process_env, tmp_path / "portal.log", LOG_FORMAT="json", CELERY_QUEUE=queue,
                                CELERY_POLL_QUEUE=poll_queue_of(queue))
    integration = active_acumatica(committed.colmado, by=None, token="tok-request-id")
    request_id = f"obs-{uuid.uuid4().hex[:12]}"
    try:
        browser = _signed_in(url, committed.retail_admin.username)

        # when the merchant admin asks for a sync now, sending a request id
        page = f"{url}/portal/m/{committed.colmado.slug}/integrations/{integration.pk}/"
        answer = browser.post(f"{page}sync/", headers={"X-Request-ID": request_id, "Referer": page},
                              data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]}, allow_redirects=False)
        assert answer.status_code == 302 and answer.headers["X-Request-ID"] == request_id
        assert wait_for(lambda: IntegrationSyncLog.objects.filter(merchant_integration=integration).exists())
        assert wait_for(lambda: any(line.get("task") == "integrations.poll_batch" and "succeeded" in line["message"]
                                    for line in worker.json_lines()))
    finally:
        portal.stop()
        worker.stop()

    # then the portal's line and the worker's task lines carry the same request id
    web = [line for line in portal.json_lines() if line.get("request_id") == request_id]
    assert [line["message"] for line in web] == ["integration.sync_requested"]
    assert web[0]["merchant"] == committed.colmado.slug and web[0]["integration_id"] == integration.pk
    task_lines = [line for line in worker.json_lines() if line.get("task") == "integrations.poll_batch"]
    assert task_lines and all(line["request_id"] == request_id for line in task_lines)
    assert all(line["merchant"] == committed.colmado.slug and line["task_id"] for line in task_lines)
    # and every line of both is one JSON object with a time, a level, a logger and a message
    for line in portal.json_lines() + worker.json_lines():
        assert {"time", "level", "logger", "message"} <= line.keys()


@pytest.mark.slow
def test_a_task_queued_by_a_task_keeps_the_request_id(process_env, tmp_path):
    # given a worker logging JSON
    worker, queue = worker_logged(process_env, tmp_path / "worker.log", LOG_FORMAT="json")
    marker, request_id = uuid.uuid4().hex, f"obs-{uuid.uuid4().hex[:12]}"
    token = request_id_var.set(request_id)
    try:
        # when a task is queued while handling a request, and it queues another
        app.send_task("tests.observability.queue_next", queue=queue, kwargs={"marker": marker})
        assert wait_for(lambda: any(line.get("marker") == marker and line["message"] == "observability.next"
                                    for line in worker.json_lines()))
    finally:
        request_id_var.reset(token)
        worker.stop()

    # then both tasks' lines carry the request id, each with its own task id
    lines = {line["message"]: line for line in worker.json_lines() if line.get("marker") == marker}
    assert lines["observability.first"]["request_id"] == lines["observability.next"]["request_id"] == request_id
    assert lines["observability.first"]["task_id"] != lines["observability.next"]["task_id"]
