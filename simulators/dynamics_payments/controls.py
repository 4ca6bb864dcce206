"""Reads a `POST /_control` body for the Dynamics Payments fake into a plan, checking all of it before the state
changes: sites, card tokens, fees, a batch close at a given time, planted settled batches (for reconciliation tests:
thousands of rows a second) and a planted PAN."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from simulators.dynamics_payments.records import BRANDS, TERMINAL_ID, Site
from simulators.dynamics_payments.replies import CENT, cents
from simulators.faults import Failure

CONTROL_KEYS = frozenset(
    (
        "reset",
        "fail",
        "card_number_in_next_answer",
        "sites",
        "tokens",
        "fee_percent",
        "fee_fixed",
        "close_batch",
        "settled_batches",
    )
)
SITE_FIELDS = ("site_id", "session_id", "secret", "merchant_key")
SETTLED_STATUS = {
    "Venta": "Liquidada",
    "Reembolso": "Reembolso Liquidado",
    "Contracargo": "Contracargo",
    "Ajuste": "Ajuste",
}
STAMP = "%Y-%m-%dT%H:%M:%S"


@dataclass
class ControlPlan:
    sites: list = field(default_factory=list)
    tokens: dict[str, tuple[str, str, bool]] = field(default_factory=dict)
    fee_percent: Decimal | None = None
    fee_fixed: Decimal | None = None
    card_number: str | None = None
    fail: Failure | None = None
    close_batch: tuple[str, datetime | None] | None = None
    settled_batches: list[tuple[str, datetime, date | None, list[dict]]] = field(default_factory=list)


def _stamp(value, where: str) -> datetime:
    try:
        return datetime.strptime(str(value), STAMP)
    except ValueError:
        raise ValueError(f'{where} must be "YYYY-MM-DDTHH:MM:SS" (Puerto Rico time)') from None


def _amount(value, where: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip()) if isinstance(value, str | int | float) and value is not True else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount != amount.quantize(CENT):
        raise ValueError(f'{where} must be an amount like "12.34"')
    return cents(amount)


def _fee(value, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"{where} must be a number from 0 to 100")
    return Decimal(str(value))


def _text(raw: dict, key: str, where: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or len(value) > 100:
        raise ValueError(f"{where}.{key} must be a string")
    return value


def _settled_item(raw, where: str, brands, close_date: datetime) -> dict:
    """One planted row of a settled batch, checked; the state numbers what is left out."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    kind = raw.get("Type")
    if kind not in SETTLED_STATUS:
        raise ValueError(f"{where}.Type must be one of {', '.join(SETTLED_STATUS)}")
    amount = _amount(raw.get("Amount"), f"{where}.Amount")
    if amount == 0:
        raise ValueError(f"{where}.Amount must not be zero")
    brand, last4 = raw.get("brand", "visa"), str(raw.get("last4", "1111"))
    if brand not in brands or not re.fullmatch(r"\d{4}", last4):
        raise ValueError(f"{where}: brand must be one of {', '.join(brands)} and last4 four digits")
    planted_id = raw.get("IDTransaction")
    if planted_id is not None and (not isinstance(planted_id, str) or not planted_id.strip()):
        raise ValueError(f"{where}.IDTransaction must be a non-empty string")
    fee = raw.get("Fee")
    return {
        "id": planted_id.strip() if planted_id else None,
        "kind": kind,
        "amount": amount if kind == "Ajuste" else abs(amount),  # only an adjustment keeps its sign
        "status": SETTLED_STATUS[kind],
        "brand": brand,
        "last4": last4,
        "at": _stamp(raw["TransactionDate"], f"{where}.TransactionDate") if "TransactionDate" in raw else close_date,
        "auth_number": _text(raw, "AuthNumber", where),
        "reference_code": _text(raw, "Reference_Code", where),
        "invoice": _text(raw, "Invoice", where),
        "terminal": _text(raw, "TerminalId", where) or TERMINAL_ID,
        "original": _text(raw, "OriginalIDTransaction", where),
        "marked": abs(amount) if kind == "Venta" else None,
        "fee": (None if kind == "Venta" else Decimal("0.00")) if fee is None else abs(_amount(fee, f"{where}.Fee")),
    }


def _settled_batches(state, value, resetting: bool, brands) -> list:
    if not isinstance(value, dict):
        raise ValueError('settled_batches must be {"<merchant key>": [{close_date, items: […]}, …]}')
    planned = []
    for merchant_key, batches in value.items():
        if not merchant_key.strip() or not isinstance(batches, list):
            raise ValueError("settled_batches: each merchant key must map to a list of batches")
        for number, raw in enumerate(batches):
            where = f"settled_batches[{merchant_key[-4:]}][{number}]"
            if not isinstance(raw, dict) or not isinstance(raw.get("items"), list):
                raise ValueError(f"{where} needs close_date and an items list")
            close_date = _stamp(raw.get("close_date"), f"{where}.close_date")
            deposit = None
            if raw.get("deposit_date") is not None:
                try:
                    deposit = date.fromisoformat(str(raw["deposit_date"]))
                except ValueError:
                    raise ValueError(f'{where}.deposit_date must be "YYYY-MM-DD"') from None
            items = [
                _settled_item(item, f"{where}.items[{index}]", brands, close_date)
                for index, item in enumerate(raw["items"])
            ]
            planned.append((merchant_key, close_date, deposit, items))
    ids = [item["id"] for _, _, _, items in planned for item in items if item["id"]]
    if len(set(ids)) != len(ids) or (not resetting and set(state.transactions) & set(ids)):
        raise ValueError("settled_batches: an IDTransaction is listed twice or already exists")
    return planned


def parse_control(state, body: dict) -> ControlPlan:
    """The plan a `/_control` body asks for; ValueError (and no change) when any part is malformed."""
    if unknown := sorted(set(body) - CONTROL_KEYS):
        raise ValueError(f"unknown control keys: {', '.join(unknown)}")
    resetting = bool(body.get("reset"))
    plan = ControlPlan(fail=state.faults.parse(body))
    sites = body.get("sites", [])
    if not isinstance(sites, list):
        raise ValueError("sites must be a list of {site_id, session_id, secret, merchant_key}")
    for site in sites:
        values = [site.get(name) for name in SITE_FIELDS] if isinstance(site, dict) else []
        if len(values) != 4 or not all(isinstance(value, str) and value.strip() for value in values):
            raise ValueError(f"sites: each site needs {', '.join(SITE_FIELDS)} as non-empty strings")
        plan.sites.append(Site(*(value.strip() for value in values)))
    tokens = body.get("tokens", {})
    if not isinstance(tokens, dict):
        raise ValueError('tokens must be {"<AccountToken>": {brand, last4, declined}}')
    for token, card in tokens.items():
        brand, last4 = (card.get("brand"), str(card.get("last4", ""))) if isinstance(card, dict) else (None, "")
        declined = card.get("declined", False) if isinstance(card, dict) else None
        if brand not in BRANDS or not re.fullmatch(r"\d{4}", last4) or not isinstance(declined, bool):
            raise ValueError(f"tokens.{token}: brand must be one of {', '.join(BRANDS)}, last4 four digits")
        plan.tokens[token] = (brand, last4, declined)
    if "fee_percent" in body:
        plan.fee_percent = _fee(body["fee_percent"], "fee_percent")
    if "fee_fixed" in body:
        plan.fee_fixed = _fee(body["fee_fixed"], "fee_fixed")
    if "card_number_in_next_answer" in body:
        digits = body["card_number_in_next_answer"]
        if not isinstance(digits, str) or not digits.isdigit() or not digits.isascii():
            raise ValueError("card_number_in_next_answer must be a string of digits")
        plan.card_number = digits
    if "settled_batches" in body:
        plan.settled_batches = _settled_batches(state, body["settled_batches"], resetting, BRANDS)
    if "close_batch" in body:
        close = body["close_batch"]
        key = close.get("merchant_key") if isinstance(close, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise ValueError('close_batch must be {"merchant_key", "at": "YYYY-MM-DDTHH:MM:SS" (optional)}')
        at = _stamp(close["at"], "close_batch.at") if close.get("at") is not None else None
        plan.close_batch = (key.strip(), at)
    return plan
