"""Email through Mandrill's API, over real HTTP to the local Mandrill fake: an alert arrives with both
parts; an invalid key, an outage and a rejected recipient are each logged with Mandrill's own
word for it, retried where a retry can help, and never break the change that sent the alert."""

from __future__ import annotations

import logging
import time

import pytest

from integrations.models import MerchantIntegration
from integrations.services.alerts import send_auto_pause_alert
from qiiub.retry import EMAIL_RETRY_SCHEDULE_S
from tests.factories import active_acumatica, wait_for

WRONG_KEY = "md-wrong-key-0123456789"


def _records(caplog, event: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == event]


@pytest.fixture
def paused(personas, acumatica_fake) -> MerchantIntegration:
    integration = active_acumatica(personas.colmado, by=None, token="tok-mandrill")
    MerchantIntegration.objects.filter(pk=integration.pk).update(consecutive_error_count=3)
    return integration


def test_an_alert_reaches_mandrill_with_a_text_and_an_html_part_and_no_tracking(paused, mandrill_backend, caplog):
    caplog.set_level(logging.INFO, logger="qiiub.mail")

    send_auto_pause_alert(integration_id=paused.pk)

    [message] = mandrill_backend.posted()["messages"]
    assert message["to"] == [{"email": "admin@colmadorivera.local", "type": "to"}]
    assert message["subject"] == "Acumatica se pausó tras fallos repetidos"  # Colmado Rivera speaks Spanish
    assert "pruebe la conexión y luego reanúdela" in message["text"]
    assert "pruebe la conexión y luego reanúdela" in message["html"] and message["html"].startswith("<!DOCTYPE html>")
    assert message["tags"] == ["integration_paused"]
    assert message["track_opens"] is False and message["track_clicks"] is False
    assert [record.attempt for record in _records(caplog, "email.sent")] == [1]


def test_an_invalid_key_is_logged_by_its_name_retried_on_the_schedule_then_logged_undelivered(
        paused, mandrill_backend, settings, eager_bus, caplog):
    settings.ANYMAIL = {**settings.ANYMAIL, "MANDRILL_API_KEY": WRONG_KEY}
    caplog.set_level(logging.INFO, logger="qiiub.mail")

    send_auto_pause_alert(integration_id=paused.pk)  # returns: the pause stands whatever the provider says

    state = mandrill_backend.posted()
    attempts = len(EMAIL_RETRY_SCHEDULE_S) + 1
    assert state["messages"] == [] and state["refused"] == {"Invalid_Key": attempts}
    failed = _records(caplog, "email.send_failed")
    assert [(record.code, record.attempt) for record in failed] == [("Invalid_Key", n) for n in range(1, attempts)]
    assert [record.retry_in_s for record in failed] == list(EMAIL_RETRY_SCHEDULE_S)
    [undelivered] = _records(caplog, "email.undelivered")
    assert (undelivered.levelname, undelivered.code, undelivered.attempts) == ("ERROR", "Invalid_Key", attempts)
    assert WRONG_KEY not in caplog.text and "admin@colmadorivera.local" not in caplog.text


def test_a_provider_outage_is_retried_and_the_alert_arrives(paused, mandrill_backend, eager_bus, caplog):
    mandrill_backend.control(fail={"status": 503, "count": 1})
    caplog.set_level(logging.INFO, logger="qiiub.mail")

    send_auto_pause_alert(integration_id=paused.pk)

    [message] = mandrill_backend.posted()["messages"]
    assert message["subject"] == "Acumatica se pausó tras fallos repetidos"
    assert [(record.code, record.attempt) for record in _records(caplog, "email.send_failed")] == [("http_503", 1)]
    assert [record.attempt for record in _records(caplog, "email.sent")] == [2]


def test_a_rejected_recipient_is_logged_undelivered_at_once_and_not_retried(paused, mandrill_backend, eager_bus,
                                                                              caplog):
    mandrill_backend.control(reject=["admin@colmadorivera.local"])
    caplog.set_level(logging.INFO, logger="qiiub.mail")

    send_auto_pause_alert(integration_id=paused.pk)

    assert len(mandrill_backend.posted()["messages"]) == 1  # one call: a bounce list is not cured by waiting
    [undelivered] = _records(caplog, "email.undelivered")
    assert (undelivered.code, undelivered.attempts) == ("recipients_refused", 1)
    assert _records(caplog, "email.send_failed") == []


def test_a_timeout_is_cut_short_and_retried(paused, mandrill_backend, settings, eager_bus, caplog):
    settings.ANYMAIL = {**settings.ANYMAIL, "REQUESTS_TIMEOUT": (1, 0.3)}
    mandrill_backend.control(delay_s=1)
    caplog.set_level(logging.INFO, logger="qiiub.mail")
    try:
        send_auto_pause_alert(integration_id=paused.pk)
    finally:
        mandrill_backend.control(delay_s=0)
        time.sleep(1)  # the fake still answers what we gave up on: the next test starts from a settled fake

    failed = _records(caplog, "email.send_failed")
    assert failed and {record.code for record in failed} == {"timeout"}
    assert _records(caplog, "email.undelivered")[0].code == "timeout"


@pytest.mark.fault
def test_a_real_worker_sends_again_what_the_provider_refused_during_an_outage(
        paused, mandrill_fake, mandrill_backend, process_env, monkeypatch):
    from qiiub.celery import app
    from tests.conftest import start_worker, stop_worker

    # given a worker that sends through the same Mandrill fake, and a first wait of a second
    queue = f"{process_env['CELERY_QUEUE']}-mail"
    worker = start_worker({**process_env, "EMAIL_PROVIDER": "mandrill", "EMAIL_BACKEND": "",
                           "MANDRILL_API_KEY": "mandrill-test-key",
                           "MANDRILL_API_URL": f"{mandrill_fake.url}/api/1.0"}, queue)
    previous_queue, app.conf.task_default_queue = app.conf.task_default_queue, queue
    monkeypatch.setattr("qiiub.mail.EMAIL_RETRY_SCHEDULE_S", (1,) * len(EMAIL_RETRY_SCHEDULE_S))
    # (reset once the worker is up: an earlier test's late answers are behind us)
    mandrill_fake.control(reset=True, fail={"status": 500, "count": 1})  # Mandrill's GeneralError
    try:
        # when the alert's first attempt meets the outage
        send_auto_pause_alert(integration_id=paused.pk)

        # then the worker's attempt delivers it
        assert wait_for(lambda: len(mandrill_fake.posted()["messages"]) == 1, seconds=30), mandrill_fake.posted()
    finally:
        app.conf.task_default_queue = previous_queue
        stop_worker(worker)
    [message] = mandrill_fake.posted()["messages"]
    assert message["subject"] == "Acumatica se pausó tras fallos repetidos" and "<html" in message["html"]
