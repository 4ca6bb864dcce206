"""The records a terminal uploads, as data: one JSON Schema per record type (served in the
OpenAPI document too), a normalizer (amounts → Decimal, times → aware datetimes) and the business
checks a schema cannot express (tenders add up to the total, card fields only on card tenders).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import jsonschema_rs
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator

from merchants.store.models import StockChange, TaxJurisdiction, TenderKind
from qiiub.schemas import schema_errors_from

MONEY = {"type": "string", "pattern": r"^-?[0-9]{1,10}(\.[0-9]{1,2})?$", "maxLength": 14,
         "description": 'An amount as text with at most 2 decimals, e.g. "11.15".'}
QUANTITY = {"type": "string", "pattern": r"^-?[0-9]{1,7}(\.[0-9]{1,3})?$", "maxLength": 12,
            "description": 'A quantity as text with at most 3 decimals, e.g. "1.5".'}
RATE = {"type": "string", "pattern": r"^0(\.[0-9]{1,4})?$", "description": 'A rate as a fraction, e.g. "0.105".'}
TIMESTAMP = {"type": "string", "maxLength": 40,
             "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$",
             "description": 'An ISO 8601 time with its UTC offset, e.g. "2026-11-25T14:03:00-04:00".'}
UUID = {"type": "string", "format": "uuid",
        "pattern": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        "description": "The terminal's own id for this record: a repeat of it changes nothing."}


# PostgreSQL text cannot hold a NUL character: a record carrying one is refused, not stored cut.
NO_NUL = r"^[^\x00]*$"


def _text(max_length: int, *, required: bool = True) -> dict:
    return {"type": "string", "minLength": 1 if required else 0, "maxLength": max_length, "pattern": NO_NUL}


def _record(record_type: str, properties: dict, required: list[str]) -> dict:
    return {
        "type": "object", "additionalProperties": False,
        "required": ["type", "client_uuid", *required],
        "properties": {"type": {"const": record_type}, "client_uuid": UUID, **properties},
    }


RX_NUMBER = {"type": "string", "pattern": "^[0-9A-Za-z-]{1,20}$", "description": "The pharmacy system's Rx number."}
FILL_NUMBER = {"type": "integer", "minimum": 0, "maximum": 99, "description": "The fill (0 for the original)."}
RX_REFERENCE = {"type": "object", "additionalProperties": False, "required": ["rx_number", "fill_number"],
                "properties": {"rx_number": RX_NUMBER, "fill_number": FILL_NUMBER},
                "description": "The prescription an Rx line sells (a negative quantity returns it)."}

CARD_FIELDS = ("card_brand", "card_last4", "auth_code", "processor_ref", "entry_method")
SALE_SCHEMA = _record("sale", {
    "completed_at": TIMESTAMP,
    "subtotal": MONEY, "tax_state": MONEY, "tax_municipal": MONEY, "total": MONEY,
    "lines": {"type": "array", "minItems": 1, "maxItems": 500, "items": {
        "type": "object", "additionalProperties": False,
        "required": ["sku", "description", "quantity", "unit_price", "line_total"],
        "properties": {"sku": _text(64), "description": _text(200), "quantity": QUANTITY, "unit_price": MONEY,
                       "line_total": MONEY, "tax_category": _text(40), "rx": RX_REFERENCE},
    }},
    "tax_lines": {"type": "array", "maxItems": 10, "items": {
        "type": "object", "additionalProperties": False, "required": ["jurisdiction", "rate", "taxable_amount", "amount"],
        "properties": {"jurisdiction": {"type": "string", "enum": TaxJurisdiction.values}, "rate": RATE,
                       "taxable_amount": MONEY, "amount": MONEY},
    }},
    "tenders": {"type": "array", "minItems": 1, "maxItems": 20, "items": {
        "type": "object", "additionalProperties": False, "required": ["kind", "amount"],
        "properties": {
            "kind": {"type": "string", "enum": TenderKind.values},
            "amount": MONEY,
            "card_brand": {"type": "string", "enum": ["visa", "mastercard", "amex", "discover", "jcb", "diners",
                                                      "unionpay", "ath_movil", "other"]},
            "card_last4": {"type": "string", "pattern": "^[0-9]{4}$", "description": "Only the last 4 digits."},
            "auth_code": _text(20),
            "processor_ref": _text(64),
            "entry_method": {"type": "string", "enum": ["chip", "contactless", "swipe", "manual", "fallback"]},
            "reference": {**_text(64), "description": "Check number or charge account."},
        },
    }},
}, ["completed_at", "subtotal", "total", "lines", "tenders"])

SHIFT_CLOSE_SCHEMA = _record("shift_close", {
    "opened_at": TIMESTAMP, "closed_at": TIMESTAMP, "cashier": {**_text(64), "description": "The POS's cashier id."},
    "sales_count": {"type": "integer", "minimum": 0, "maximum": 1000000},
    "sales_total": MONEY, "expected_cash": MONEY, "counted_cash": MONEY,
}, ["opened_at", "closed_at", "cashier", "sales_count", "sales_total", "expected_cash", "counted_cash"])

FLAG_TYPES = ["hipaa", "safety_cap", "counseling"]
RELATIONS = ["self", "spouse", "parent", "child", "caregiver", "other"]
SIGNATURE_FORMATS = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
MAX_SIGNATURE_BYTES = 64 * 1024  # a pad's signature is a few KB; more is not a signature
RX_PICKUP_SCHEMA = _record("rx_pickup", {
    "rx_number": RX_NUMBER, "fill_number": FILL_NUMBER, "picked_up_at": TIMESTAMP,
    "picked_up_by": {"type": "object", "additionalProperties": False, "required": ["name", "relation"],
                     "description": "Who took the prescription: the patient or someone for them.",
                     "properties": {
                         "name": _text(100), "relation": {"type": "string", "enum": RELATIONS},
                         "id_type": {"type": "string", "enum": ["drivers_license", "state_id", "passport", "other"]},
                         "id_last4": {"type": "string", "pattern": "^[0-9A-Za-z]{1,4}$",
                                      "description": "At most the last 4 characters of the ID shown."},
                     }},
    "flag_results": {"type": "array", "maxItems": 10, "items": {
        "type": "object", "additionalProperties": False, "required": ["type", "accepted"],
        "properties": {"type": {"type": "string", "enum": FLAG_TYPES}, "accepted": {"type": "boolean"}}}},
    "signature": {"type": "object", "additionalProperties": False, "required": ["format", "data"],
                  "description": f"The signature pad's image, at most {MAX_SIGNATURE_BYTES // 1024} KB (413 beyond).",
                  "properties": {"format": {"type": "string", "enum": list(SIGNATURE_FORMATS)},
                                 "data": {"type": "string", "contentEncoding": "base64",
                                          "pattern": "^[A-Za-z0-9+/]+={0,2}$"}}},
    "amount_paid": MONEY, "sale_client_uuid": UUID,
}, ["rx_number", "fill_number", "picked_up_at", "picked_up_by"])

DEVICE_STATUS_SCHEMA = _record("device_status", {
    "device": {"type": "string", "enum": ["payment_terminal", "receipt_printer", "label_printer", "scale",
                                          "barcode_scanner", "customer_display"]},
    "state": {"type": "string", "enum": ["ok", "warning", "error", "offline"]},
    "detail": _text(300, required=False),
    "reported_at": TIMESTAMP,
}, ["device", "state", "reported_at"])

LOCATION_CODE = {"type": "string", "minLength": 1, "maxLength": 40, "pattern": NO_NUL,
                 "description": "A location's code, e.g. \"CR01\"."}
MAX_ON_HAND = 1_000_000  # a shelf count beyond this is a typo, not a count
MAX_STOCK_CHANGE = 100_000  # one receiving, transfer or write-off; more is a typo too
STOCK_REASONS = ["purchase_order", "vendor_return", "customer_return", "damaged", "expired", "theft", "lost",
                 "store_use", "store_transfer", "correction", "found", "other"]
INVENTORY_SCHEMA = _record("inventory", {
    "change": {"type": "string", "enum": StockChange.values,
               "description": "count: sets the level (on_hand); receiving (+), shrink (−), adjustment (±) and "
                              "transfer (+, out of `location` into `to_location`) move it by `quantity`."},
    "sku": _text(64),
    "location": {**LOCATION_CODE, "description": "Where the stock is: the terminal's own location."},
    "on_hand": {"type": "integer", "minimum": 0, "maximum": MAX_ON_HAND, "description": "A count's level."},
    "quantity": {"type": "integer", "minimum": -MAX_STOCK_CHANGE, "maximum": MAX_STOCK_CHANGE,
                 "description": "The signed change, in whole units (not for a count)."},
    "reason": {"type": "string", "enum": STOCK_REASONS, "description": "Why (every change but a count)."},
    "to_location": {**LOCATION_CODE, "description": "A transfer's destination: another location of the merchant."},
    "occurred_at": TIMESTAMP,
}, ["change", "sku", "location", "occurred_at"])

CUSTOMER_SCHEMA = _record("customer", {
    "client_uuid": {**UUID, "description": "The POS's own id for the customer: the same one in every update."},
    "customer_code": {"type": "string", "pattern": "^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$",
                      "description": "The POS's stable code for the customer (loyalty number, account code)."},
    "name": _text(100),
    "email": {"type": "string", "maxLength": 254, "pattern": r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"},
    "phone": {"type": "string", "pattern": r"^\+?[0-9][0-9 ().-]{6,24}$"},
    "marketing_consent": {"type": "boolean", "description": "Whether the customer agreed to marketing messages."},
    "created_at": TIMESTAMP,
    "updated_at": {**TIMESTAMP, "description": "When the POS last changed the customer: an older version changes "
                                               "nothing."},
}, ["customer_code", "name", "marketing_consent", "created_at", "updated_at"])


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _when(value: Any) -> datetime:
    # The schema checked the shape; fromisoformat catches impossible dates (month 13, …).
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("needs a UTC offset")
    return moment


def _normalized_sale(sale: dict) -> dict:
    return {
        **sale,
        "completed_at": _when(sale["completed_at"]),
        "subtotal": _money(sale["subtotal"]), "total": _money(sale["total"]),
        "tax_state": _money(sale.get("tax_state", 0)), "tax_municipal": _money(sale.get("tax_municipal", 0)),
        "lines": [{**line, "quantity": Decimal(str(line["quantity"])), "unit_price": _money(line["unit_price"]),
                   "line_total": _money(line["line_total"])} for line in sale["lines"]],
        "tax_lines": [{**tax, "rate": Decimal(str(tax["rate"])), "taxable_amount": _money(tax["taxable_amount"]),
                       "amount": _money(tax["amount"])} for tax in sale.get("tax_lines", ())],
        "tenders": [{**tender, "amount": _money(tender["amount"])} for tender in sale["tenders"]],
    }


def _sale_problems(sale: dict) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    tendered = sum((tender["amount"] for tender in sale["tenders"]), Decimal("0"))
    if tendered != sale["total"]:
        problems["tenders"] = [f"The tenders add up to {tendered}, not the sale's total {sale['total']}."]
    taxed = sale["subtotal"] + sale["tax_state"] + sale["tax_municipal"]
    if taxed != sale["total"]:
        problems["total"] = [f"Subtotal plus IVU is {taxed}, not the total {sale['total']}."]
    for jurisdiction in TaxJurisdiction.values:
        lines = [tax["amount"] for tax in sale["tax_lines"] if tax["jurisdiction"] == jurisdiction]
        if lines and sum(lines, Decimal("0")) != sale[f"tax_{jurisdiction}"]:
            problems["tax_lines"] = [f"The {jurisdiction} tax lines do not add up to tax_{jurisdiction}."]
    for index, tender in enumerate(sale["tenders"]):
        if tender["kind"] == "card":
            missing = [field for field in ("card_brand", "card_last4", "entry_method") if not tender.get(field)]
            if missing:
                problems[f"tenders[{index}]"] = [f"A card tender needs {', '.join(missing)}."]
        elif stray := [field for field in CARD_FIELDS if tender.get(field)]:
            problems[f"tenders[{index}]"] = [f"Only card tenders carry {', '.join(stray)}."]
    return problems


def _normalized_shift(shift: dict) -> dict:
    return {**shift, "opened_at": _when(shift["opened_at"]), "closed_at": _when(shift["closed_at"]),
            **{field: _money(shift[field]) for field in ("sales_total", "expected_cash", "counted_cash")}}


def _shift_problems(shift: dict) -> dict[str, list[str]]:
    if shift["closed_at"] < shift["opened_at"]:
        return {"closed_at": ["The shift closes before it opens."]}
    return {}


def _normalized_rx(pickup: dict) -> dict:
    signature = pickup.get("signature")
    return {**pickup, "picked_up_at": _when(pickup["picked_up_at"]), "amount_paid": _money(pickup.get("amount_paid", 0)),
            "flag_results": pickup.get("flag_results", []), "sale_client_uuid": pickup.get("sale_client_uuid"),
            "signature": {**signature, "image": base64.b64decode(signature["data"])} if signature else None}


def _rx_problems(pickup: dict) -> dict[str, list[str]]:
    signature = pickup["signature"]
    if signature and not signature["image"].startswith(SIGNATURE_FORMATS[signature["format"]]):
        return {"signature.data": [f"Not a {signature['format']} image."]}
    return {}


def signature_too_large(record: Any) -> bool:
    """Whether an uploaded record's signature image is over MAX_SIGNATURE_BYTES, measured on the
    base64 text before anything is decoded or stored."""
    signature = record.get("signature") if isinstance(record, dict) and record.get("type") == "rx_pickup" else None
    data = signature.get("data") if isinstance(signature, dict) else None
    return isinstance(data, str) and len(data) * 3 // 4 > MAX_SIGNATURE_BYTES


def _normalized_status(status: dict) -> dict:
    return {**status, "reported_at": _when(status["reported_at"]), "detail": status.get("detail", "")}


def _normalized_inventory(record: dict) -> dict:
    return {**record, "occurred_at": _when(record["occurred_at"]), "reason": record.get("reason", ""),
            "to_location": record.get("to_location", "")}


# The sign each change takes; an adjustment goes either way.
_STOCK_SIGN = {StockChange.RECEIVING: 1, StockChange.TRANSFER: 1, StockChange.SHRINK: -1}


def _inventory_problems(record: dict) -> dict[str, list[str]]:
    change = record["change"]
    if change == StockChange.COUNT:
        problems = {"on_hand": [_("A count needs on_hand.")]} if "on_hand" not in record else {}
        stray = [name for name in ("quantity", "reason", "to_location") if record.get(name)]
        return problems | {name: [_("A count carries on_hand only.")] for name in stray}
    problems = {}
    if "on_hand" in record:
        problems["on_hand"] = [_("Only a count carries on_hand; send quantity.")]
    quantity, sign = record.get("quantity"), _STOCK_SIGN.get(change)
    if not quantity:
        problems["quantity"] = [_("Send a quantity other than 0.")]
    elif sign and quantity * sign < 0:
        message = _("The quantity of a %(change)s is positive (the units it moves).") if sign > 0 else _(
            "The quantity of a %(change)s is negative (the units it takes away).")
        problems["quantity"] = [message % {"change": change}]
    if not record["reason"]:
        problems["reason"] = [_("Send the reason for this change.")]
    if change == StockChange.TRANSFER and not record["to_location"]:
        problems["to_location"] = [_("A transfer needs the location it goes to.")]
    elif change == StockChange.TRANSFER and record["to_location"] == record["location"]:
        problems["to_location"] = [_("A transfer goes to another location.")]
    elif change != StockChange.TRANSFER and record["to_location"]:
        problems["to_location"] = [_("Only a transfer goes to another location.")]
    return problems


def _normalized_customer(customer: dict) -> dict:
    return {**customer, "created_at": _when(customer["created_at"]), "updated_at": _when(customer["updated_at"]),
            "email": customer.get("email", ""), "phone": customer.get("phone", "")}


def _customer_problems(customer: dict) -> dict[str, list[str]]:
    if customer["updated_at"] < customer["created_at"]:
        return {"updated_at": [_("The customer is updated before it was created.")]}
    return {}


def _no_problems(_record: dict) -> dict[str, list[str]]:
    return {}


@dataclass(frozen=True)
class RecordType:
    code: str
    schema: dict
    normalized: Callable[[dict], dict]
    problems: Callable[[dict], dict[str, list[str]]]


RECORD_TYPES: dict[str, RecordType] = {
    record.code: record
    for record in (
        RecordType("sale", SALE_SCHEMA, _normalized_sale, _sale_problems),
        RecordType("shift_close", SHIFT_CLOSE_SCHEMA, _normalized_shift, _shift_problems),
        RecordType("rx_pickup", RX_PICKUP_SCHEMA, _normalized_rx, _rx_problems),
        RecordType("device_status", DEVICE_STATUS_SCHEMA, _normalized_status, _no_problems),
        RecordType("inventory", INVENTORY_SCHEMA, _normalized_inventory, _inventory_problems),
        RecordType("customer", CUSTOMER_SCHEMA, _normalized_customer, _customer_problems),
    )
}


@cache
def _validator(code: str) -> Draft202012Validator:
    return Draft202012Validator(RECORD_TYPES[code].schema)


@cache
def _fast_validator(code: str):
    # The Rust validator says yes or no a hundred times faster; only a record it refuses goes
    # through `jsonschema` for the field-by-field messages (which stays the reference).
    return jsonschema_rs.validator_for(RECORD_TYPES[code].schema)


def record_checked(record: Any) -> tuple[dict | None, dict[str, list[str]]]:
    """(the normalized record, {}) or (None, {field path: [what is wrong]}). Paths are relative to
    the record. The card guard is not here: the caller runs it over the whole request first."""
    if not isinstance(record, dict):
        return None, {"": ["A record must be a JSON object."]}
    code = record.get("type")
    record_type = RECORD_TYPES.get(code) if isinstance(code, str) else None
    if record_type is None:
        return None, {"type": [f"Unknown record type; send one of: {', '.join(RECORD_TYPES)}."]}
    if not _fast_validator(record_type.code).is_valid(record) and (
        errors := schema_errors_from(_validator(record_type.code), record,
                                     unknown_field=_("Not a field of %(type)s records.") % {"type": record_type.code})
    ):
        return None, errors
    try:
        normalized = record_type.normalized(record)
    except ValueError as error:
        return None, {"": [f"A time is not valid: {error}."]}
    if problems := record_type.problems(normalized):
        return None, problems
    return normalized, {}
