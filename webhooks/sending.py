"""Sending one event to a merchant's endpoint, signed (Standard Webhooks), and what the delivery
log keeps of it: the headers we sent, the endpoint's answer (bounded, card numbers masked) or the
connection or TLS error, each failure as a code with its parameters (`webhooks.delivery_errors`)."""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from django.utils import timezone, translation

from qiiub.card_guard import mask_card_numbers
from qiiub.http import RateLimited, VendorUnavailable, shared_session
from qiiub.retry import retry_after_seconds
from qiiub.vault import read_secret
from webhooks import signing
from webhooks.models import WebhookEndpoint
from webhooks.targets import TargetRefused, check_target

EXCERPT_CHARS = 300  # the answer's body kept per attempt (DeliveryAttempt.response_excerpt)
HEADERS_KEPT = 20  # the answer's headers kept per attempt, each value cut to HEADER_VALUE_CHARS
HEADER_VALUE_CHARS = 200
# A receiver's cookies are its own sessions' secrets: never kept.
HEADERS_NEVER_KEPT = {"set-cookie", "set-cookie2", "authorization", "proxy-authenticate", "www-authenticate"}


@dataclass
class WebhookAnswer:
    """One attempt as the delivery log keeps it; `status_code` None: no answer came."""

    status_code: int | None
    excerpt: str
    duration_ms: int
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    error_code: str = ""
    error_params: dict[str, Any] = field(default_factory=dict)

    def attempt_details(self) -> dict[str, Any]:
        """The DeliveryAttempt fields beyond the status code and excerpt the dispatcher writes."""
        return {"error_code": self.error_code, "error_params": self.error_params or None,
                "request_headers": self.request_headers, "response_headers": self.response_headers or None}


class EndpointFailed(VendorUnavailable):
    """The merchant's endpoint did not take the event; `answer` is what the log keeps of the try.
    A VendorUnavailable to the rest of the hub: retried, and the integration's test names it so."""

    answer: WebhookAnswer


class EndpointRateLimited(EndpointFailed, RateLimited):
    """429: the dispatcher waits at least the endpoint's Retry-After."""


class EndpointGone(EndpointFailed):
    code = "endpoint_gone"


def event_body(*, event_type: str, payload: dict, occurred_at) -> bytes:
    """The body of every attempt of an event (the delivery page rebuilds it from the event)."""
    return json.dumps(
        {"type": event_type, "timestamp": occurred_at.isoformat(), "data": payload}, separators=(",", ":")
    ).encode()


def _signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    secrets_in_use = [read_secret(endpoint.secret_vault_key)["secret"]]
    if endpoint.previous_secret_vault_key and endpoint.previous_secret_expires_at > timezone.now():
        secrets_in_use.append(read_secret(endpoint.previous_secret_vault_key)["secret"])
    return secrets_in_use


def _failure(error_class: type[EndpointFailed], answer: WebhookAnswer, code: str, **params) -> EndpointFailed:
    answer.error_code, answer.error_params = code, params
    error = error_class(code, **params)
    error.answer = answer
    return error


def _root_cause(error: BaseException) -> BaseException:
    """The library's own exception under requests' and urllib3's wrappers."""
    seen = error
    while True:
        inner = getattr(seen, "reason", None)
        inner = inner if isinstance(inner, BaseException) else (seen.__cause__ or seen.__context__)
        if inner is None or inner is seen:
            return seen
        seen = inner


def _connection_failure(error: requests.RequestException, answer: WebhookAnswer) -> EndpointFailed:
    if isinstance(error, requests.Timeout):
        return _failure(EndpointFailed, answer, "timeout", seconds=settings.WEBHOOK_TIMEOUT_S)
    cause = _root_cause(error)
    if isinstance(error, requests.exceptions.SSLError) or isinstance(cause, ssl.SSLError):
        reason = getattr(cause, "verify_message", None) or getattr(cause, "reason", None) or str(cause)
        return _failure(EndpointFailed, answer, "tls_error", reason=str(reason)[:HEADER_VALUE_CHARS])
    reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else type(cause).__name__
    return _failure(EndpointFailed, answer, "connection_error", reason=str(reason)[:HEADER_VALUE_CHARS])


def _kept_headers(headers) -> dict[str, str]:
    kept = {}
    for name, value in headers.items():
        if name.lower() in HEADERS_NEVER_KEPT:
            continue
        if len(kept) == HEADERS_KEPT:
            break
        kept[name.lower()] = mask_card_numbers(value[: HEADER_VALUE_CHARS * 2])[:HEADER_VALUE_CHARS]
    return kept


@dataclass
class SignedEvent:
    """An event ready to POST to an endpoint: its body and headers, signed with the secrets in use."""

    url: str
    body: bytes
    headers: dict[str, str]


def signed_event(*, endpoint: WebhookEndpoint, event_id: str, event_type: str, payload: dict,
                 occurred_at) -> SignedEvent:
    """Sign an event for an endpoint (reads its signing secrets: where the database is at hand)."""
    body = event_body(event_type=event_type, payload=payload, occurred_at=occurred_at)
    timestamp = int(time.time())
    return SignedEvent(endpoint.url, body, {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            _signing_secrets(endpoint), message_id=event_id, timestamp=timestamp, body=body
        ),
    })


def send_event(*, endpoint: WebhookEndpoint, event_id: str, event_type: str, payload: dict, occurred_at) -> WebhookAnswer:
    """POST one event, signed (see `post_event`); a refused URL is refused before anything is signed."""
    _check_target(endpoint.url)
    return post_event(signed_event(endpoint=endpoint, event_id=event_id, event_type=event_type, payload=payload,
                                   occurred_at=occurred_at))


def post_event(signed: SignedEvent) -> WebhookAnswer:
    """POST a signed event. A refused URL raises TargetRefused; any answer but a 2xx, or none,
    raises an EndpointFailed carrying what the log keeps."""
    _check_target(signed.url)  # at send time: DNS may point elsewhere now
    headers = signed.headers
    answer = WebhookAnswer(status_code=None, excerpt="", duration_ms=0, request_headers=dict(headers))
    started = time.monotonic()
    try:
        response = shared_session().post(
            signed.url, data=signed.body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_S,
            allow_redirects=False, verify=settings.WEBHOOK_CA_BUNDLE,
        )
    except requests.RequestException as error:
        answer.duration_ms = int((time.monotonic() - started) * 1000)
        raise _connection_failure(error, answer) from error
    answer.duration_ms = int((time.monotonic() - started) * 1000)
    answer.status_code = response.status_code
    # The receiver's words are stored and shown: any card number in them is masked (before the cut).
    answer.excerpt = mask_card_numbers(response.text[:EXCERPT_CHARS * 4])[:EXCERPT_CHARS]
    answer.response_headers = _kept_headers(response.headers)
    status = response.status_code
    if 200 <= status < 300:
        return answer
    # Any other answer is a failure to retry: a receiver's 4xx or redirect may be fixed on its side.
    if status == 410:
        raise _failure(EndpointGone, answer, "gone")
    if status == 429:
        error = _failure(EndpointRateLimited, answer, "http_status", status=status)
        error.retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise error
    if 300 <= status < 400:
        raise _failure(EndpointFailed, answer, "http_redirect", status=status)
    raise _failure(EndpointFailed, answer, "http_status", status=status)


def _check_target(url: str) -> None:
    with translation.override("en"):  # what is stored of a refusal is its code; the log line stays English
        check_target(url)


def refused_target_failure(refused: TargetRefused) -> EndpointFailed:
    """A URL refused at send time, recorded like any failed attempt (nothing was sent)."""
    answer = WebhookAnswer(status_code=None, excerpt="", duration_ms=0)
    return _failure(EndpointFailed, answer, refused.reason, **refused.params)
