"""How Shopify's Admin API writes errors: `{"errors": "…"}` or `{"errors": {"field": …}}`, and its throttle message."""

from __future__ import annotations

from simulators.base import Rejected, Reply, json_reply
from simulators.faults import Failure

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
MISSING = "Required parameter missing or invalid"


def errors(status: int, value, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"errors": value}, headers)


def not_found() -> Reply:
    return errors(404, "Not Found")


def invalid(field_name: str, message: str) -> Rejected:
    return Rejected(errors(422, {field_name: [message]}))


def missing(field_name: str) -> Rejected:
    return Rejected(errors(400, {field_name: MISSING}))


def throttle_message(leak_rate: int) -> str:
    return (
        f"Exceeded {leak_rate} calls per second for api client. Reduce request rates to resume uninterrupted service."
    )


def failure_reply(fail: Failure, leak_rate: int) -> Reply:
    """What Shopify answers for a failure a test scheduled; its Retry-After is a float ("2.0")."""
    headers = fail.retry_after_headers(whole_seconds=False)
    if fail.status == 429:
        return errors(429, throttle_message(leak_rate), headers)
    return errors(fail.status, "Internal Server Error", headers)
