"""How ATH Móvil's Payment Button API writes its answers: `{"status": "success", "data": …}`, errors as
`{"status": "error", "message", "errorcode", "data": null}` with the README's codes and English texts, and amounts
as JSON numbers with two decimals (12.50, not 12.5 and not cents)."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal

from simulators.base import Reply
from simulators.faults import Failure

CENT = Decimal("0.01")
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"  # how ATH Móvil writes dates: Puerto Rico local time
# The README's error table (English side); the key is the errorcode as the API sends it.
ERRORS = {
    "BTRA_0001": "The transfer amount is under Minimum allowed",
    "BTRA_0004": "Amount is Over the limits",
    "BTRA_0006": "Invalid format",
    "BTRA_0008": "TransactionId does not belong to the business",
    "BTRA_0013": "Amount is Zero",
    "BTRA_0020": "numeric value out of bounds (<4 digits>.<2 digits> expected)",
    "BTRA_0021": "TransactionType is not valid",
    "BTRA_0023": "Error with the From date",
    "BTRA_0024": "Error with the To date",
    "BTRA_0025": "The From date must be before the To date",
    "BTRA_0028": "is less than 0.01",
    "BTRA_0029": "Required String parameter '%s' is not present",
    "BTRA_0031": "EcommerceId does not exist",
    "BTRA_0032": "The status of the e-commerce is not confirm",
    "BTRA_0035": "The e-commerce transaction has not the expected status",
    "BTRA_0038": "The metadata field exceeds the maximum supported characters (40)",
    "BTRA_0040": "The message can not exceed 50 characters",
    "BTRA_0043": "The business ins't owner of payment",  # sic, as the README spells it
    "BTRA_0047": "Date from cannot be future",
    "BTRA_0053": "ReferenceNumber not found",
    "BTRA_0401": "Invalid authorization token",
    "BTRA_0403": "Invalid authorization token",
}
NO_BODY = "Required request body is missing"  # the README's example text for an empty BTRA_0006
NO_HEADER = "No authorization header present."  # the README's token.invalid.header example
_DECIMAL_MARK = re.compile(r'"\\u0000(-?\d+\.\d\d)\\u0000"')


class AthError(Exception):
    """Ends a request with ATH Móvil's error body; 400 for business errors, 401 for token errors [inferred]."""

    def __init__(self, errorcode: str, message: str | None = None, status: int = 400):
        super().__init__(errorcode)
        self.status = status
        self.body = {"status": "error", "message": message or ERRORS[errorcode], "errorcode": errorcode, "data": None}


def missing(name: str) -> AthError:
    return AthError("BTRA_0029", ERRORS["BTRA_0029"] % name)


def success(data) -> dict:
    return {"status": "success", "data": data}


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(value, name: str) -> Decimal:
    """An amount as the README sends them (`"10"`, `"1.00"`, or a JSON number), to the cent; sign kept."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise missing(name)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise AthError("BTRA_0006", f"Invalid format: {name} must be a number")
    text = str(value).strip()
    match = re.fullmatch(r"-?(\d+)(?:\.(\d+))?", text)
    if not match:
        raise AthError("BTRA_0006", f"Invalid format: {name} must be a number")
    if len(match.group(1).lstrip("0")) > 4 or len((match.group(2) or "").rstrip("0")) > 2:
        raise AthError("BTRA_0020", f"{name}: {ERRORS['BTRA_0020']}")
    return cents(Decimal(text))


def text_field(body: dict, name: str, limit: int, code: str, *, required: bool = False) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise missing(name)
        return ""
    if not isinstance(value, str):
        raise AthError("BTRA_0006", f"Invalid format: {name} must be a string")
    if len(value) > limit:
        raise AthError(code, f"{name}: {ERRORS[code]}")
    return value


def _marked(value):
    """Decimals become marked strings that `to_json` turns back into bare two-decimal numbers."""
    if isinstance(value, Decimal):
        return f"\x00{value:.2f}\x00"
    if isinstance(value, dict):
        return {key: _marked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_marked(item) for item in value]
    return value


def to_json(body) -> bytes:
    return _DECIMAL_MARK.sub(r"\1", json.dumps(_marked(body), ensure_ascii=False)).encode()


def reply(status: int, body, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, to_json(body), "application/json; charset=utf-8", headers)


def failure_reply(fail: Failure) -> Reply:
    """A failure a test scheduled: the README's error shape, Retry-After in whole seconds when asked."""
    message = "Too Many Requests" if fail.status == 429 else "Service unavailable"
    body = {"status": "error", "message": message, "errorcode": "5000", "data": None}
    return reply(fail.status, body, fail.retry_after_headers())
