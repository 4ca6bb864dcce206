"""How the Dynamics Payments fake answers: JSON with the processor's Spanish fields; business refusals as HTTP 200
with a `ResponseCode` other than "00" [inferred], malformed requests as HTTP 400 `ResponseCode "30"`, a bad
signature as HTTP 401 `ResponseCode "98"`, another site's MerchantKey as HTTP 403 `ResponseCode "03"` (ISO 8583's
"invalid merchant"; the status is this fake's choice). Amounts are strings with two decimals ("12.34")."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

from simulators.base import Reply
from simulators.faults import Failure

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
JSON_TYPE = "application/json; charset=utf-8"


class DynamicsError(Exception):
    """Ends a request with the processor's refusal body."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(code)
        self.status = status
        self.body = {"ResponseCode": code, "Message": message, **extra}


def invalid_format(detail: str) -> DynamicsError:
    return DynamicsError(400, "30", f"Formato inválido: {detail}")


def refused(code: str, message: str, transaction_id: str | None = None) -> DynamicsError:
    """A business refusal: HTTP 200, ResponseCode ≠ "00" ("12" transaction/state, "13" amount, "14" token)."""
    extra = {"IDTransaction": transaction_id} if transaction_id else {}
    return DynamicsError(200, code, message, **extra)


def bad_signature() -> DynamicsError:
    return DynamicsError(401, "98", "MessageHash inválido")


def wrong_merchant() -> DynamicsError:
    return DynamicsError(403, "03", "Comercio inválido: el MerchantKey no pertenece a este sitio")


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def reply(status: int, body, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body, ensure_ascii=False).encode(), JSON_TYPE, headers)


def failure_reply(fail: Failure) -> Reply:
    """A failure a test scheduled, with Retry-After in whole seconds when asked."""
    message = "Demasiadas solicitudes" if fail.status == 429 else "Servicio no disponible"
    return reply(fail.status, {"ResponseCode": "96", "Message": message}, fail.retry_after_headers())
