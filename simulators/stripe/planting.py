"""What a test plants through `POST /_control` for reconciliation: `charges` (Terminal card_present payments already
captured, as a POS terminal paying through Stripe Terminal makes them, with their refunds and dispute, each with its
own balance transaction at its own `created`) and `payouts` (an automatic payout of every not-yet-paid-out
balance transaction created up to `created_lte`). Parsing validates everything first (ValueError, nothing changed);
planting is bulk (thousands of charges a second) and emits no events; payouts emit `payout.paid` and
`payout.reconciliation_completed` [inf: a payout with nothing to pay is not made]."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simulators.stripe.objects import (
    DISPUTE_FEE,
    balance_transaction,
    card_present_details,
    charge,
    dispute,
    new_id,
    now,
    payment_intent,
    payout,
)
from simulators.stripe.payments import REFUND_REASONS, charge_transaction, refund_objects

if TYPE_CHECKING:
    from simulators.stripe.ledger import Account
    from simulators.stripe.state import StripeState

CHARGE_FIELDS = frozenset(
    ("payment_intent", "amount", "created", "brand", "last4", "authorization_code", "terminal", "metadata", "fee",
     "refunds", "dispute")
)
OBJECT_ID = re.compile(r"[A-Za-z0-9_]{1,200}")
LAST4 = re.compile(r"\d{4}")
AUTHORIZATION_CODE = re.compile(r"[A-Za-z0-9]{6}")
DISPUTE_STATUSES = ("needs_response", "lost")
NO_REQUEST = {"id": None, "idempotency_key": None}  # what an event says when no API request caused it


@dataclass
class PlantedCharge:
    amount: int
    created: int
    brand: str
    last4: str
    authorization_code: str
    metadata: dict
    intent_id: str | None = None
    fee: int | None = None
    refunds: list[tuple[int, int, str | None]] = field(default_factory=list)  # (amount, created, reason)
    dispute: tuple[int, int, str] | None = None  # (amount, created, status)


def whole(value, where: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{where} must be an integer ≥ {minimum}")
    return value


def parse_charge(raw, where: str) -> PlantedCharge:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    if unknown := sorted(set(raw) - CHARGE_FIELDS):
        raise ValueError(f"{where}: unknown fields {', '.join(unknown)}")
    amount = whole(raw.get("amount"), f"{where}.amount", 1)
    created = whole(raw.get("created", now()), f"{where}.created")
    brand, last4 = raw.get("brand", "visa"), raw.get("last4", "4242")
    if not isinstance(brand, str) or not brand.isalpha():
        raise ValueError(f"{where}.brand must be a card brand like visa")
    if not isinstance(last4, str) or not LAST4.fullmatch(last4):
        raise ValueError(f"{where}.last4 must be four digits")
    code = raw.get("authorization_code") or "".join(random.choices(string.ascii_uppercase + string.digits, k=6))
    if not isinstance(code, str) or not AUTHORIZATION_CODE.fullmatch(code):
        raise ValueError(f"{where}.authorization_code must be six letters or digits")
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{where}.metadata must be an object of strings")
    terminal = raw.get("terminal")
    if terminal is not None:
        if not isinstance(terminal, str) or not terminal:
            raise ValueError(f"{where}.terminal must be a reader id like tmr_…")
        metadata = {**metadata, "terminal": terminal}
    intent_id = raw.get("payment_intent")
    if intent_id is not None and (
        not isinstance(intent_id, str) or not intent_id.startswith("pi_") or not OBJECT_ID.fullmatch(intent_id)
    ):
        raise ValueError(f"{where}.payment_intent must be an id like pi_…")
    fee = None if raw.get("fee") is None else whole(raw["fee"], f"{where}.fee")
    planted = PlantedCharge(amount, created, brand.lower(), last4, code, metadata, intent_id, fee)
    refunds = raw.get("refunds", [])
    if not isinstance(refunds, list):
        raise ValueError(f"{where}.refunds must be a list")
    for number, item in enumerate(refunds):
        at = f"{where}.refunds[{number}]"
        if not isinstance(item, dict):
            raise ValueError(f"{at} must be an object")
        reason = item.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise ValueError(f"{at}.reason must be one of {', '.join(REFUND_REASONS)}")
        planted.refunds.append((whole(item.get("amount"), f"{at}.amount", 1),
                                whole(item.get("created", created), f"{at}.created", created), reason))
    taken_back = sum(refund[0] for refund in planted.refunds)
    if (item := raw.get("dispute")) is not None:
        if not isinstance(item, dict):
            raise ValueError(f"{where}.dispute must be an object")
        status = item.get("status", "needs_response")
        if status not in DISPUTE_STATUSES:
            raise ValueError(f"{where}.dispute.status must be one of {', '.join(DISPUTE_STATUSES)}")
        planted.dispute = (whole(item.get("amount", amount), f"{where}.dispute.amount", 1),
                           whole(item.get("created", created), f"{where}.dispute.created", created), status)
        taken_back += planted.dispute[0]
    if taken_back > amount:
        raise ValueError(f"{where}: refunds and dispute take back more than the amount ({amount})")
    return planted


def parse_charges(value, valid_key: Callable[[str], None], taken: Callable[[str, str], bool]) -> dict:
    """`{"<secret key>": [charge, …]}` → {key: [PlantedCharge]}; `taken(key, pi_id)` says an id is already used."""
    if not isinstance(value, dict):
        raise ValueError('charges must be {"<secret key>": [{…}, …]}')
    parsed = {}
    for key, listed in value.items():
        valid_key(key)
        if not isinstance(listed, list):
            raise ValueError("charges.<key> must be a list")
        parsed[key] = [parse_charge(raw, f"charges.<key>[{n}]") for n, raw in enumerate(listed)]
        ids = [planted.intent_id for planted in parsed[key] if planted.intent_id]
        if len(set(ids)) != len(ids) or any(taken(key, intent_id) for intent_id in ids):
            raise ValueError("charges.<key>: a payment_intent id is used twice")
    return parsed


def parse_payouts(value, valid_key: Callable[[str], None]) -> dict:
    """`{"<secret key>": [{"created_lte", "arrival_date"}, …]}` → {key: [(created_lte, arrival_date)]}."""
    if not isinstance(value, dict):
        raise ValueError('payouts must be {"<secret key>": [{"created_lte": …, "arrival_date": …}, …]}')
    parsed = {}
    for key, listed in value.items():
        valid_key(key)
        if not isinstance(listed, list) or not all(isinstance(item, dict) for item in listed):
            raise ValueError("payouts.<key> must be a list of objects")
        parsed[key] = [
            (whole(item.get("created_lte"), "payouts.<key>[].created_lte"),
             whole(item.get("arrival_date"), "payouts.<key>[].arrival_date"))
            for item in listed
        ]
    return parsed


def plant_charges(state: StripeState, account: Account, planted_charges: list[PlantedCharge]) -> None:
    objects, payable = [], []
    for planted in planted_charges:
        intent = payment_intent(planted.amount, "manual", planted.metadata, None, planted.created)
        if planted.intent_id:
            intent["id"] = planted.intent_id
        details = card_present_details(planted.brand, planted.last4, planted.authorization_code)
        paid = charge(intent, details, planted.created)
        fee = state.fee(planted.amount) if planted.fee is None else planted.fee
        txn = charge_transaction(paid, planted.amount, fee, planted.created)
        intent.update(status="succeeded", amount_received=planted.amount, latest_charge=paid["id"],
                      payment_method_types=["card_present"])
        objects += (intent, paid, txn)
        payable.append(txn)
        for amount, created, reason in planted.refunds:
            made, refund_txn = refund_objects(paid, amount, reason, {}, created)
            objects += (made, refund_txn)
            payable.append(refund_txn)
        if planted.dispute:
            amount, created, status = planted.dispute
            dispute_id = new_id("dp")
            dispute_txn = balance_transaction(
                dispute_id, -amount, DISPUTE_FEE, "adjustment", "dispute", created,
                f"Chargeback withdrawal for {paid['id']}",
            )
            paid["disputed"] = True
            objects += (dispute(paid, amount, status, created, dispute_id), dispute_txn)
            payable.append(dispute_txn)
    account.add_many(objects, payable)


def make_payouts(state: StripeState, account: Account, planned: list[tuple[int, int]]) -> None:
    for created_lte, arrival_date in planned:
        paid = account.take_unpaid(created_lte)
        if not paid:
            continue
        amount = sum(account.objects[object_id]["net"] for _, object_id in paid)
        payout_id = new_id("po")
        txn = balance_transaction(payout_id, -amount, 0, "payout", "payout", created_lte, "STRIPE PAYOUT")
        account.add(txn)  # a payout's own transaction is never paid out
        account.add(payout(amount, created_lte, arrival_date, txn["id"], payout_id))
        account.paid_by[payout_id] = paid
        state.emit(account, "payout.paid", payout_id, NO_REQUEST)
        state.emit(account, "payout.reconciliation_completed", payout_id, NO_REQUEST)
