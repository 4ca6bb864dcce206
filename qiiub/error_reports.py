"""Error tracking: Sentry's SDK with its Django and Celery integrations, on when SENTRY_DSN is set.

Nothing leaves unscrubbed: a request's body, cookies and query string are dropped and only plain
headers kept; local variables are never captured; every other value under a sensitive name is
replaced and every card number masked (qiiub.scrubbing), in events and in breadcrumbs alike.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

# The request headers an error report keeps: they say what asked, never who or with what secret.
_HEADERS_KEPT = frozenset({"accept", "accept-language", "content-type", "content-length", "host", "user-agent",
                           "x-request-id", "x-pos-app-version"})
# Parts of a request the SDK may fill that can carry anything the sender put there.
_REQUEST_PARTS_DROPPED = ("data", "cookies", "query_string", "env")


def error_reports_start(*, dsn: str, environment: str, release: str, traces_sample_rate: float) -> None:
    """Start reporting errors to `dsn` (nothing when it is empty)."""
    if not dsn:
        return
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        before_send=event_scrubbed,
        before_breadcrumb=breadcrumb_scrubbed,
    )


def _request_scrubbed(request: dict) -> dict:
    kept = {key: value for key, value in request.items() if key not in _REQUEST_PARTS_DROPPED}
    headers = request.get("headers") or {}
    kept["headers"] = {name: value for name, value in headers.items() if name.lower() in _HEADERS_KEPT}
    if "url" in kept:
        kept["url"] = str(kept["url"]).split("?", 1)[0]
    return kept


def _frames_without_variables(event: dict) -> None:
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)


def event_scrubbed(event: dict, hint: Any = None) -> dict:
    """Sentry's before_send: the event as it may leave, tagged with the request id of the log lines."""
    # Imported here: settings start the SDK before Django's apps (which the card guard's errors use) load.
    from qiiub.log_context import log_context
    from qiiub.scrubbing import scrubbed

    if isinstance(event.get("request"), dict):
        event["request"] = _request_scrubbed(event["request"])
    _frames_without_variables(event)
    event.pop("user", None)
    context = log_context()
    if context:
        event.setdefault("tags", {}).update({f"qiiub.{name}": value for name, value in context.items()})
    return scrubbed(event)


def breadcrumb_scrubbed(breadcrumb: dict, hint: Any = None) -> dict:
    """Sentry's before_breadcrumb: a log line or an HTTP call as it may leave."""
    from qiiub.scrubbing import scrubbed

    data = breadcrumb.get("data")
    if isinstance(data, dict) and "url" in data:
        data["url"] = str(data["url"]).split("?", 1)[0]
        data.pop("http.query", None)
    return scrubbed(breadcrumb)
