"""Reads a `POST /_control` body for the ATH Móvil fake into a plan, checking all of it before the state changes:
pre-registered and revoked tokens, confirmations, fees, the clock, a planted PAN and planted completed transactions
(for reconciliation tests: thousands a second)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from simulators.athmovil.replies import CENT, LOCAL_FORMAT, cents
from simulators.faults import Failure

CONTROL_KEYS = frozenset(
    (
        "reset",
        "fail",
        "card_number_in_next_answer",
        "accounts",
        "revoked_tokens",
        "auto_confirm",
        "confirm",
        "fee_percent",
        "advance_s",
        "transactions",
    )
)
KINDS = ("PAYMENT", "ECOMMERCE", "REFUND")


@dataclass
class ControlPlan:
    revoked: set[str] | None = None
    accounts: list[tuple[str, str]] = field(default_factory=list)
    auto_confirm: bool | None = None
    confirm: list[str] = field(default_factory=list)
    fee_percent: Decimal | None = None
    card_number: str | None = None
    advance_s: float = 0.0
    fail: Failure | None = None
    transactions: list[dict] = field(default_factory=list)


def _token_list(value, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValueError(f"{name} must be a list of non-empty strings")
    return [item.strip() for item in value]


def _money(value, where: str, *, positive: bool = True) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f'{where} must be an amount like "12.34"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f'{where} must be an amount like "12.34"') from None
    if not amount.is_finite() or amount != amount.quantize(CENT) or amount < 0 or (positive and amount == 0):
        raise ValueError(f"{where} must be a {'positive' if positive else 'non-negative'} amount with 2 decimals")
    return cents(amount)


def _text(raw: dict, key: str, where: str, limit: int) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{where}.{key} must be a string of at most {limit} characters")
    return value


def _planted(raw, where: str, public_token: str) -> dict:
    """One planted completed transaction, checked; the state numbers it when it is applied."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    kind = raw.get("transactionType")
    if kind not in KINDS:
        raise ValueError(f"{where}.transactionType must be one of {', '.join(KINDS)}")
    try:
        at = datetime.strptime(str(raw.get("date")), LOCAL_FORMAT)
    except ValueError:
        raise ValueError(f'{where}.date must be "YYYY-MM-DD HH:MM:SS" (Puerto Rico time)') from None
    total = _money(raw.get("total"), f"{where}.total")
    reference = raw.get("referenceNumber")
    if reference is not None and (not isinstance(reference, str) or not reference.strip()):
        raise ValueError(f"{where}.referenceNumber must be a non-empty string")
    original = raw.get("originalReferenceNumber")
    if kind == "REFUND" and (not isinstance(original, str) or not original.strip()):
        raise ValueError(f"{where}: a REFUND needs originalReferenceNumber")
    ecommerce_id = raw.get("ecommerceId") or (str(uuid.uuid1()) if kind == "ECOMMERCE" else "")
    if not isinstance(ecommerce_id, str):
        raise ValueError(f"{where}.ecommerceId must be a string")
    tax = _money(raw.get("tax", "0.00"), f"{where}.tax", positive=False)
    return {
        "public_token": public_token,
        "kind": kind,
        "at": at,
        "total": total,
        "tax": tax,
        "subtotal": _money(raw.get("subtotal", total - tax), f"{where}.subtotal", positive=False),
        "fee": None if raw.get("fee") is None else _money(raw["fee"], f"{where}.fee", positive=False),
        "reference": reference.strip() if reference else None,
        "original_reference": original.strip() if kind == "REFUND" else "",
        "ecommerce_id": ecommerce_id if kind == "ECOMMERCE" else "",
        "metadata1": _text(raw, "metadata1", where, 40),
        "metadata2": _text(raw, "metadata2", where, 40),
        "message": _text(raw, "message", where, 50),
    }


def _transactions(state, value, resetting: bool) -> list[dict]:
    if not isinstance(value, dict):
        raise ValueError('transactions must be {"<public token>": [{…}, …]}')
    planted: list[dict] = []
    for public_token, listed in value.items():
        if not public_token.strip() or not isinstance(listed, list):
            raise ValueError("transactions: each public token must map to a list")
        for index, raw in enumerate(listed):
            planted.append(_planted(raw, f"transactions[{public_token[-4:]}][{index}]", public_token.strip()))
    references = [item["reference"] for item in planted if item["reference"]]
    taken = set() if resetting else set(state.ledger)
    if len(set(references)) != len(references) or taken.intersection(references):
        raise ValueError("transactions: a referenceNumber is listed twice or already exists")
    ecommerce_ids = [item["ecommerce_id"] for item in planted if item["ecommerce_id"]]
    if len(set(ecommerce_ids)) != len(ecommerce_ids) or (not resetting and set(state.payments) & set(ecommerce_ids)):
        raise ValueError("transactions: an ecommerceId is listed twice or already exists")
    return planted


def parse_control(state, body: dict) -> ControlPlan:
    """The plan a `/_control` body asks for; ValueError (and no change) when any part is malformed."""
    if unknown := sorted(set(body) - CONTROL_KEYS):
        raise ValueError(f"unknown control keys: {', '.join(unknown)}")
    resetting = bool(body.get("reset"))
    plan = ControlPlan(fail=state.faults.parse(body))
    if "revoked_tokens" in body:
        plan.revoked = set(_token_list(body["revoked_tokens"], "revoked_tokens"))
    accounts = body.get("accounts", [])
    if not isinstance(accounts, list):
        raise ValueError("accounts must be a list of {public_token, private_token}")
    for account in accounts:
        pair = (account.get("public_token"), account.get("private_token")) if isinstance(account, dict) else ()
        if len(pair) != 2 or not all(isinstance(token, str) and token.strip() for token in pair):
            raise ValueError("accounts: each account needs public_token and private_token strings")
        plan.accounts.append((pair[0].strip(), pair[1].strip()))
    if "auto_confirm" in body:
        if not isinstance(body["auto_confirm"], bool):
            raise ValueError("auto_confirm must be true or false")
        plan.auto_confirm = body["auto_confirm"]
    for ecommerce_id in _token_list(body.get("confirm", []), "confirm"):
        payment = None if resetting else state.payments.get(ecommerce_id)
        if payment is None:
            raise ValueError(f"confirm: no payment {ecommerce_id}")
        if state.refresh(payment).status not in ("OPEN", "CONFIRM"):
            raise ValueError(f"confirm: payment {ecommerce_id} is {payment.status}, not OPEN")
        plan.confirm.append(ecommerce_id)
    if "fee_percent" in body:
        fee = body["fee_percent"]
        if isinstance(fee, bool) or not isinstance(fee, int | float) or not 0 <= fee <= 100:
            raise ValueError("fee_percent must be a number from 0 to 100")
        plan.fee_percent = Decimal(str(fee))
    if "card_number_in_next_answer" in body:
        digits = body["card_number_in_next_answer"]
        if not isinstance(digits, str) or not digits.isdigit() or not digits.isascii():
            raise ValueError("card_number_in_next_answer must be a string of digits")
        plan.card_number = digits
    advance = body.get("advance_s", 0)
    if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
        raise ValueError("advance_s must be a number of seconds ≥ 0")
    plan.advance_s = float(advance)
    if "transactions" in body:
        plan.transactions = _transactions(state, body["transactions"], resetting)
    return plan
