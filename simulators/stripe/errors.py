"""How Stripe writes errors: `{"error": {type, code, decline_code, message, param, payment_intent, charge, doc_url}}`
(what does not apply is left out), the status each type comes with, and the failures a test injects (`fail`)."""

from __future__ import annotations

from simulators.base import Rejected, Reply, json_reply
from simulators.faults import Failure

DOC_URL = "https://docs.stripe.com/error-codes/{}"
MISSING_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization header, "
    "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
)
IDEMPOTENCY_MISMATCH = (
    "Keys for idempotent requests can only be used with the same parameters they were first used with. "
    "Try using a key other than '{}' if you meant to execute a different request."
)
INJECTED = {  # what an injected failure says, by status: (type, code, message, Stripe-Should-Retry)
    409: ("invalid_request_error", "lock_timeout",
          "This object cannot be accessed right now because another API request or Stripe process is currently "
          "accessing it. If you see this error intermittently, retry the request.", "true"),
    429: ("invalid_request_error", "rate_limit",
          "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.", None),
    500: ("api_error", None, "An unknown error occurred", "false"),  # stored for the key: a retry cannot fix it
    502: ("api_error", None, "Bad gateway", None),
    503: ("api_error", None, "Service unavailable", None),
}


def error_reply(status: int, kind: str, message: str, headers: dict[str, str] | None = None, **fields) -> Reply:
    """`fields`: code, decline_code, param, payment_intent, charge; None ones are left out, as Stripe does."""
    error = {"type": kind, "message": message, **{name: value for name, value in fields.items() if value is not None}}
    if "code" in error:
        error["doc_url"] = DOC_URL.format(error["code"].replace("_", "-"))
    return json_reply(status, {"error": error}, headers)


def invalid(message: str, param: str | None = None, code: str | None = None, status: int = 400) -> Rejected:
    """A request refused before it did anything (never stored for its idempotency key)."""
    return Rejected(error_reply(status, "invalid_request_error", message, code=code, param=param))


def missing(param: str) -> Rejected:
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def unknown_parameter(param: str) -> Rejected:
    return invalid(f"Received unknown parameter: {param}", param, "parameter_unknown")


def no_such(kind: str, object_id: str, param: str | None = None) -> Rejected:
    """An id in the path is 404; an id given as a parameter is 400 naming the parameter, as Stripe answers."""
    return invalid(f"No such {kind}: '{object_id}'", param, "resource_missing", 400 if param else 404)


def unexpected_state(message: str) -> Rejected:
    return invalid(message, code="payment_intent_unexpected_state")


def unauthorized(message: str) -> Rejected:
    return Rejected(error_reply(401, "invalid_request_error", message))


def idempotency_mismatch(key: str) -> Reply:
    return error_reply(400, "idempotency_error", IDEMPOTENCY_MISMATCH.format(key))


def unrecognized_url(method: str, path: str) -> Reply:
    message = f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
    return error_reply(404, "invalid_request_error", message + "https://support.stripe.com/.")


def failure_reply(fail: Failure) -> Reply:
    kind, code, message, should_retry = INJECTED[fail.status]
    headers = fail.retry_after_headers()
    if should_retry:
        headers["Stripe-Should-Retry"] = should_retry
    return error_reply(fail.status, kind, message, headers, code=code)
