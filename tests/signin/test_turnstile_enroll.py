"""Turnstile on terminal enrollment (`POST /api/pos/v1/enroll`): the token rides in the JSON body,
and each refusal answers in the POS API's error envelope with the code unused."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from devices.models import EnrollmentCode, Terminal
from devices.terminals import enrollment_code_create
from tests.signin.conftest import late_answer_landed, solved_token

pytestmark = pytest.mark.security

ENROLL = "/api/pos/v1/enroll"


@pytest.fixture(autouse=True)
def _enroll_throttle_cleared():
    cache.delete(ScopedRateThrottle.cache_format % {"scope": "pos-enroll", "ident": "127.0.0.1"})


@pytest.fixture
def code(personas):
    return enrollment_code_create(location=personas.colmado.locations.first())[1]


def _enroll(code: str, **extra):
    return APIClient().post(ENROLL, {"code": code, "name": "Register 1", **extra}, format="json")


def test_a_solved_check_enrolls_the_terminal(code, turnstile_on):
    answer = _enroll(code, turnstile_token=solved_token(turnstile_on, action="enroll", hostname="possync.local"))

    assert answer.status_code == 201 and answer.json()["token"].startswith("qtt_")
    assert turnstile_on.posted()["verifications"][-1]["action"] == "enroll"


@pytest.mark.parametrize(("token", "status", "error"), [
    (None, 400, "turnstile_missing"),
    ("", 400, "turnstile_missing"),
    ("0.made-up", 400, "turnstile_refused"),
])
def test_a_missing_or_refused_check_is_answered_in_the_error_envelope_and_leaves_the_code_usable(
    code, turnstile_on, token, status, error
):
    answer = _enroll(code, **({} if token is None else {"turnstile_token": token}))

    assert answer.status_code == status
    assert answer.json()["error"]["code"] == error and answer.json()["error"]["message"]
    assert not Terminal.objects.exists() and not EnrollmentCode.objects.filter(used_at__isnull=False).exists()
    assert _enroll(code, turnstile_token=solved_token(turnstile_on, action="enroll")).status_code == 201


def test_a_token_solved_for_the_sign_in_does_not_enroll(code, turnstile_on):
    answer = _enroll(code, turnstile_token=solved_token(turnstile_on, action="login"))

    assert answer.json()["error"]["code"] == "turnstile_refused" and not Terminal.objects.exists()


@pytest.mark.fault
def test_a_siteverify_outage_answers_503_and_uses_nothing_up(code, turnstile_on):
    turnstile_on.control(delay_s=2)
    late = _enroll(code, turnstile_token=solved_token(turnstile_on, action="enroll"))
    late_answer_landed(turnstile_on)
    turnstile_on.control(delay_s=0, fail={"status": 500})
    failed = _enroll(code, turnstile_token=solved_token(turnstile_on, action="enroll"))

    for answer in (late, failed):
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "turnstile_unavailable"
    assert not Terminal.objects.exists()
    assert _enroll(code, turnstile_token=solved_token(turnstile_on, action="enroll")).status_code == 201


def test_with_turnstile_off_a_terminal_enrolls_without_a_token(code, settings):
    settings.TURNSTILE_SITE_KEY = ""

    assert _enroll(code).status_code == 201


def test_the_openapi_document_describes_the_token_and_the_503(client, db):
    operation = client.get("/api/pos/v1/openapi.json").json()["paths"]["/api/pos/v1/enroll"]["post"]

    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "turnstile_token" in body["properties"] and "turnstile_token" not in body["required"]
    assert {"400", "503"} <= set(operation["responses"]) and "turnstile_refused" in operation["responses"]["400"]["description"]
