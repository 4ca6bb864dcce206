"""The hub's outbox messages (docs/pharmacy-relay.md, "Outbox message bodies") read once, checked and typed, so that
every adapter maps the same thing. A body that cannot be read will never be delivered: PharmacyRefused with
`message_malformed`, whose text names the field but never its value."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from qiiub_relay.adapters.base import FLAG_TYPES, OutboundMessage, PharmacyRefused

SIGNATURE_FORMATS = ("image/png", "image/jpeg")


@dataclass(frozen=True)
class Signature:
    format: str  # one of SIGNATURE_FORMATS
    data: str  # base64, as the register sent it


@dataclass(frozen=True)
class PickedUpBy:
    name: str
    relation: str
    id_type: str | None
    id_last4: str | None


@dataclass(frozen=True)
class Pickup:
    number: int
    rx_number: str
    fill_number: int
    picked_up_at: str
    picked_up_by: PickedUpBy
    flag_results: tuple[tuple[str, bool], ...]  # (flag type, accepted)
    signature: Signature | None
    amount_paid: Decimal


@dataclass(frozen=True)
class SaleLine:
    rx_number: str | None
    fill_number: int | None
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    line_total: Decimal
    taxable: bool


@dataclass(frozen=True)
class Sale:
    number: int
    completed_at: str
    lines: tuple[SaleLine, ...]
    subtotal: Decimal
    tax_total: Decimal
    total: Decimal
    payments: tuple[tuple[str, Decimal], ...]  # (tender kind, amount)


@dataclass(frozen=True)
class Return:
    number: int
    rx_number: str
    fill_number: int
    returned_at: str
    quantity: Decimal  # negative
    refund: Decimal  # negative: money back to the customer


def read_message(message: OutboundMessage) -> Pickup | Sale | Return:
    readers = {"pickup": _pickup, "sale": _sale, "return": _return}
    if message.kind not in readers:
        raise PharmacyRefused("message_kind_unknown", "the relay does not know this kind of outbox message")
    if not isinstance(message.body, dict):
        raise _malformed("body")
    try:
        return readers[message.kind](message.number, message.body)
    except (KeyError, TypeError):
        raise _malformed("a required field") from None


def _malformed(field: str) -> PharmacyRefused:
    return PharmacyRefused("message_malformed", f"the outbox message's {field} cannot be read")


def _text(body: dict, name: str, *, optional: bool = False) -> str | None:
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _malformed(name)
    return value


def _fill(body: dict, name: str = "fill_number") -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _malformed(name)
    return value


def _decimal(body: dict, name: str) -> Decimal:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _malformed(name)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _malformed(name) from None
    if not amount.is_finite():
        raise _malformed(name)
    return amount


def _pickup(number: int, body: dict) -> Pickup:
    by = body["picked_up_by"]
    if not isinstance(by, dict):
        raise _malformed("picked_up_by")
    flag_results = []
    for result in body.get("flag_results") or []:
        if not isinstance(result, dict) or result.get("type") not in FLAG_TYPES or not isinstance(
                result.get("accepted"), bool):
            raise _malformed("flag_results")
        flag_results.append((result["type"], result["accepted"]))
    return Pickup(
        number, _text(body, "rx_number"), _fill(body), _text(body, "picked_up_at"),
        PickedUpBy(_text(by, "name"), _text(by, "relation"), _text(by, "id_type", optional=True),
                   _text(by, "id_last4", optional=True)),
        tuple(flag_results), _signature(body.get("signature")), _decimal(body, "amount_paid"),
    )


def _signature(raw) -> Signature | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("format") not in SIGNATURE_FORMATS or not isinstance(raw.get("data"), str):
        raise _malformed("signature")
    data = "".join(raw["data"].split())
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error:
        raise _malformed("signature") from None
    return Signature(raw["format"], data)


def _sale(number: int, body: dict) -> Sale:
    lines = []
    for line in body["lines"]:
        if not isinstance(line, dict) or not isinstance(line.get("taxable", False), bool):
            raise _malformed("lines")
        rx_number = _text(line, "rx_number", optional=True)
        lines.append(SaleLine(
            rx_number, _fill(line) if rx_number else None, _text(line, "sku"), _text(line, "description"),
            _decimal(line, "quantity"), _decimal(line, "unit_price"), _decimal(line, "line_total"),
            line.get("taxable", False),
        ))
    payments = []
    for payment in body.get("payments") or []:
        if not isinstance(payment, dict):
            raise _malformed("payments")
        payments.append((_text(payment, "kind"), _decimal(payment, "amount")))
    if not lines:
        raise _malformed("lines")
    return Sale(number, _text(body, "completed_at"), tuple(lines), _decimal(body, "subtotal"),
                _decimal(body, "tax_total"), _decimal(body, "total"), tuple(payments))


def _return(number: int, body: dict) -> Return:
    return Return(number, _text(body, "rx_number"), _fill(body), _text(body, "returned_at"),
                  -abs(_decimal(body, "quantity")), -abs(_decimal(body, "amount")))
