"""Error reports reach Sentry (a local stand-in for its ingest) with nothing a request or a task
carried: no card number in any grouping, no secret, no patient's name."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
import sentry_sdk

from qiiub.celery import app
from qiiub.error_reports import breadcrumb_scrubbed, event_scrubbed
from tests.factories import wait_for
from tests.observability.conftest import portal_logged, worker_logged

pytestmark = pytest.mark.security

CARD_NUMBER = "5555555555554444"  # a Mastercard test number: Luhn-valid, in the brand's range


def _card_digits_in(text: str) -> bool:
    """Whether the card's digits appear in `text` in any grouping (up to three characters between digits)."""
    return re.search(r"\D{0,3}".join(CARD_NUMBER), text) is not None


def _assert_nothing_carried_in(raw: str, *carried: str) -> None:
    assert not _card_digits_in(raw)
    for value in carried:
        assert value not in raw


@pytest.mark.slow
@pytest.mark.fault
def test_a_request_that_fails_reaches_sentry_without_its_card_number_secret_or_patient_name(
        process_env, postgres_proxy, sentry_ingest, tmp_path):
    # given a portal reporting to the Sentry stand-in, whose PostgreSQL goes away once it served a page
    secret, patient = f"s3cr3t-{uuid.uuid4().hex}", f"PACIENTE {uuid.uuid4().hex[:8]}"
    portal, url = portal_logged(process_env, tmp_path / "portal.log", SENTRY_DSN=sentry_ingest.dsn,
                                DATABASE_URL=postgres_proxy.url)
    try:
        browser = requests.Session()
        browser.get(f"{url}/accounts/login/", timeout=10)
        postgres_proxy.stop()

        # when a sign-in carrying a card number, a secret and a patient's name everywhere fails on the database
        # (the card number not in the user name: the sign-in form refuses that before the database)
        grouped = " ".join(CARD_NUMBER[index:index + 4] for index in range(0, 16, 4))
        answer = browser.post(
            f"{url}/accounts/login/?patient_name={patient}&card={CARD_NUMBER}&api_key={secret}",
            data={"username": "colmado-admin", "password": secret, "patient_name": patient, "memo": grouped,
                  "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Authorization": f"Bearer {secret}", "X-Api-Key": secret, "X-Patient": patient, "X-Card": grouped,
                     "Referer": f"{url}/accounts/login/?card={CARD_NUMBER}", "X-Request-ID": "obs-sentry-request"},
            cookies={"sessionid": secret, "patient": patient}, timeout=30)
        assert answer.status_code == 500

        # then Sentry received the database error, tagged with the request id, carrying none of them
        assert wait_for(lambda: any(event.get("exception") for event in sentry_ingest.events()), seconds=20)
    finally:
        portal.stop()
    errors = [event for event in sentry_ingest.events() if event.get("exception")]
    assert any(value["type"] == "OperationalError" for event in errors for value in event["exception"]["values"])
    assert errors[0]["tags"]["qiiub.request_id"] == "obs-sentry-request"
    assert "data" not in errors[0]["request"] and "query_string" not in errors[0]["request"]
    _assert_nothing_carried_in("\n".join(sentry_ingest.received), secret, patient)


@pytest.mark.slow
def test_a_task_that_fails_on_a_worker_reaches_sentry_scrubbed(process_env, sentry_ingest, tmp_path):
    # given a worker reporting to the Sentry stand-in
    secret, patient = f"tok-{uuid.uuid4().hex}", f"PACIENTE {uuid.uuid4().hex[:8]}"
    worker, queue = worker_logged(process_env, tmp_path / "worker.log", SENTRY_DSN=sentry_ingest.dsn)
    try:
        # when a task holding a card number, a token and a patient's name fails there
        app.send_task("tests.observability.fail_holding_secrets", queue=queue,
                      kwargs={"card_number": CARD_NUMBER, "token": secret, "patient_name": patient})

        # then Sentry received the task's error, carrying none of them
        assert wait_for(lambda: any(event.get("exception") for event in sentry_ingest.events()), seconds=30)
    finally:
        worker.stop()
    errors = [event for event in sentry_ingest.events() if event.get("exception")]
    assert errors[0]["exception"]["values"][-1]["type"] == "ValueError"
    assert errors[0]["tags"]["qiiub.task"] == "tests.observability.fail_holding_secrets"
    _assert_nothing_carried_in("\n".join(sentry_ingest.received), secret, patient)
    # and the worker's own log line of the failure carries none of them either
    _assert_nothing_carried_in("\n".join(worker.lines()), secret, patient)


def test_breadcrumbs_of_log_lines_and_http_calls_leave_without_secrets_or_card_numbers():
    crumb = breadcrumb_scrubbed({"category": "httplib", "message": f"card {CARD_NUMBER}",
                                 "data": {"url": "https://vendor.example/api?access_token=abc", "http.query": "code=x",
                                          "client_secret": "shh", "patient_name": "Ana"}})

    assert crumb["data"] == {"url": "https://vendor.example/api", "client_secret": "[Filtered]",
                             "patient_name": "[Filtered]"}
    assert not _card_digits_in(str(crumb))


def test_an_event_keeps_only_plain_request_headers_and_no_local_variables():
    event = event_scrubbed({
        "request": {"url": "https://hub/x?card=1", "method": "POST", "data": {"a": 1}, "cookies": {"s": 1},
                    "query_string": "card=1", "headers": {"User-Agent": "pos", "Authorization": "Bearer x",
                                                          "X-Patient": "Ana"}},
        "exception": {"values": [{"type": "ValueError", "value": f"card {CARD_NUMBER}",
                                  "stacktrace": {"frames": [{"function": "f", "vars": {"card": CARD_NUMBER}}]}}]},
        "user": {"email": "someone@example.com"},
    })

    assert event["request"] == {"url": "https://hub/x", "method": "POST", "headers": {"User-Agent": "pos"}}
    assert event["exception"]["values"][0]["stacktrace"]["frames"] == [{"function": "f"}]
    assert "user" not in event and not _card_digits_in(str(event))


def test_error_reports_are_off_without_a_dsn(settings):
    assert settings.SENTRY_DSN == "" and not sentry_sdk.get_client().is_active()
