"""How QuickBooks Online writes things: JSON without a charset, `Fault` bodies (some inside an HTTP 200), the 401 in
JSON or XML, and the checks on amounts, references and dates."""

from __future__ import annotations

import math
import re
import time
from datetime import date, datetime
from decimal import Decimal

from simulators import base
from simulators.base import Rejected, Reply
from simulators.faults import Failure

JSON = "application/json"  # Intuit names no charset
REQUIRED = "Required param missing, need to supply the required value for the API"
UNSUPPORTED = "Request has invalid or unsupported property"
XML_401 = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse time="{time}">'
    '<Fault type="AuthenticationFault"><Error code="100"><Message>General Authentication Error</Message>'
    "<Detail>AuthenticationErrorGeneral: SRV-110-Authentication Failure , statusCode: 401</Detail>"
    "</Error></Fault></IntuitResponse>"
)


def qbo_time() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def json_reply(status: int, body: dict, headers: dict[str, str] | None = None) -> Reply:
    return base.json_reply(status, body, headers, JSON)


def fault_reply(status: int, kind: str, code: str, message: str, detail: str = "", headers=None) -> Reply:
    error = {"Message": message, "Detail": detail, "code": code, "element": ""}
    return json_reply(status, {"Fault": {"Error": [error], "type": kind}, "time": qbo_time()}, headers)


def throttle_reply(headers: dict[str, str] | None = None) -> Reply:
    error = {
        "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "Detail": "The request limit was reached.",
        "code": "003001",
    }
    return json_reply(429, {"Fault": {"Error": [error], "type": "ThrottleExceeded"}, "time": qbo_time()}, headers)


def failure_reply(fail: Failure) -> Reply:
    """What QuickBooks answers for a failure a test scheduled."""
    headers = fail.retry_after_headers()
    if fail.status == 429:
        return throttle_reply(headers)
    message = "An application error has occurred"
    return fault_reply(fail.status, "SystemFault", "10000", message, "Simulated failure", headers)


def unauthorized(why: str, xml: bool) -> Reply:
    """The 401 of a refused bearer token, saying why but never echoing the token."""
    if xml:
        return Reply(401, XML_401.format(time=qbo_time()).encode(), "application/xml")
    error = {
        "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "detail": f"Token expired: {why}",
        "code": "3200",
        "element": None,
    }
    body = {
        "warnings": None,
        "intuitObject": None,
        "fault": {"error": [error], "type": "AUTHENTICATION"},
        "report": None,
        "queryResponse": None,
        "time": int(time.time() * 1000),
    }
    return json_reply(401, body)


def missing(field: str) -> Rejected:
    detail = f"Required parameter {field} is missing or invalid"
    return Rejected(fault_reply(400, "ValidationFault", "2020", REQUIRED, detail))


def unknown_account(value: str) -> Rejected:
    # QBO's quirk: a bad reference is a Fault inside an HTTP 200
    detail = f"Invalid Reference Id : Accounts element id {value} not found"
    return Rejected(fault_reply(200, "ValidationFault", "2500", "Invalid Reference Id", detail))


def inactive_account(name: str) -> Rejected:
    # An inactive account is "deleted" in QuickBooks' words; like a bad reference, a Fault inside an HTTP 200
    detail = f"Invalid Reference Id : Account assigned to this transaction has been deleted. Restore {name} (deleted)."
    return Rejected(fault_reply(200, "ValidationFault", "2500", "Invalid Reference Id", detail))


def amount_ok(value) -> bool:
    """A JSON number (not a string or bool), positive, in whole cents."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value > 0 and Decimal(repr(value)).as_tuple().exponent >= -2


def cents(value: int | float) -> int:
    return int(Decimal(repr(value)) * 100)


def ref_value(ref) -> str:
    value = ref.get("value") if isinstance(ref, dict) else None
    return "" if value in (None, "") else str(value)


def date_ok(value) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True
