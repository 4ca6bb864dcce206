"""How Xero writes things: its problem and validation bodies, its MS-JSON dates, JWT-shaped tokens, money in cents."""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from simulators.base import Rejected, Reply, json_reply
from simulators.faults import Failure


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> Reply:
    """The RFC 7807-style body Xero's API gateway answers with (401, 403, 404, 429, 5xx)."""
    body = {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4()),
            "Extensions": {}}
    return json_reply(status, body, headers)


def post_data_invalid(message: str) -> Rejected:
    return Rejected(json_reply(400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}))


def validation_reply(elements: list[dict]) -> Reply:
    body = {"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred",
            "Elements": elements}
    return json_reply(400, body)


def ms_date(moment: datetime) -> str:
    """Xero's MS-JSON `DateTimeUTC`: /Date(1552595972952)/."""
    return f"/Date({int(moment.timestamp() * 1000)})/"


def ms_date_offset(moment: datetime) -> str:
    """Xero's MS-JSON date of a record: /Date(1552521600000+0000)/."""
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


def connection_time() -> str:
    """The Connections API's timestamps: UTC, no zone, seven fractional digits."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def fake_jwt(claims: dict) -> str:
    """Shaped like Xero's RS256 tokens so clients that peek at the claims work; the signature is random bytes."""
    header = {"alg": "RS256", "kid": "qiiub-simulator", "typ": "JWT"}
    return ".".join((b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()),
                     b64url(secrets.token_bytes(64))))


def is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def amount_ok(value) -> bool:
    """A JSON number (not a string or bool), non-zero, in whole cents."""
    if not is_number(value) or not math.isfinite(value):
        return False
    return value != 0 and Decimal(repr(value)).as_tuple().exponent >= -2


def cents(value: int | float) -> int:
    return int(Decimal(repr(value)) * 100)


def money(amount_cents: int) -> str:
    return f"{Decimal(amount_cents) / 100:.2f}"


def journal_date(value) -> date | None:
    """`YYYY-MM-DD`, or the same with a midnight time as Xero's own SDKs send it."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:T00:00:00(?:\.0+)?)?", value)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def too_many_requests(problem_name: str, headers: dict[str, str]) -> Reply:
    """A 429 naming the limit that was hit (one of limits.RATE_PROBLEMS) in X-Rate-Limit-Problem."""
    headers = {**headers, "X-Rate-Limit-Problem": problem_name}
    return problem(429, "Too Many Requests", f"Rate limit exceeded: {problem_name}", headers)


def failure_reply(fail: Failure) -> Reply:
    """What Xero answers for a failure a test scheduled."""
    headers = fail.retry_after_headers()
    if fail.status == 429:
        return too_many_requests(fail.options["problem"], headers)
    if fail.status == 503:
        return problem(503, "Service Unavailable", "The Xero API is temporarily unavailable", headers)
    detail = "An error occurred in Xero. Check the API Status page for current service status."
    return problem(500, "An error occurred", detail, headers)
