"""The Stripe fake's objects, written as Stripe writes them (vendors-wave2.md §2.2): ids with their prefixes
(pi_, ch_, re_, txn_, po_, dp_, evt_, req_), PaymentIntents, Charges (online card or Terminal card_present),
Refunds, Disputes, Payouts, balance transactions with their fees, and events.

[inf] Fields beyond the brief's lists are few and harmless (currency, description, payment_method, disputed,
failure_code on charges). An authorization code appears only on card_present receipts.
"""

from __future__ import annotations

import itertools
import random
import string
import time
from decimal import ROUND_HALF_UP, Decimal

API_VERSION = "2025-03-31.basil"
CURRENCY = "usd"
AVAILABLE_AFTER_S = 2 * 86400  # a charge's funds become available two days later
DISPUTE_FEE = 1500
MAX_AMOUNT = 99_999_999  # $999,999.99, Stripe's ceiling for a USD charge
EXPIRY = (12, time.gmtime().tm_year + 3)  # exp_month, exp_year of every test card
TEST_CARDS = {  # payment method → (brand, last4)
    "pm_card_visa": ("visa", "4242"),
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_amex": ("amex", "8431"),
    "pm_card_discover": ("discover", "1117"),
}
DECLINED_CARDS = {  # payment method → (brand, last4, decline_code, message)
    "pm_card_chargeDeclined": ("visa", "0002", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds", "Your card has insufficient funds."),
}
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase  # ASCII order: sorts as it counts
_random = random.Random()  # ids need to be unique, not secret
_counter = itertools.count(1)


def now() -> int:
    return int(time.time())


def new_id(prefix: str) -> str:
    """`pi_…`: a counter first, so that ids made in the same second list in the order they were made."""
    number, digits = next(_counter), []
    for _ in range(8):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return f"{prefix}_{''.join(reversed(digits))}{''.join(_random.choices(ALPHABET, k=16))}"


def request_id() -> str:
    return "req_" + "".join(_random.choices(ALPHABET, k=14))


def refund_reference() -> str:
    """[inf] The card network's reference of a refund: ten letters and digits, never a card-number-like run."""
    return _random.choice(string.ascii_uppercase) + "".join(_random.choices(string.ascii_uppercase + string.digits, k=9))


def processing_fee(amount: int, percent: float, fixed: int) -> int:
    """Stripe's card fee: amount × percent, rounded half up to a cent, plus the fixed cents."""
    return int((Decimal(amount) * Decimal(str(percent)) / 100).quantize(Decimal(1), ROUND_HALF_UP)) + fixed


def payment_intent(amount: int, capture_method: str, metadata: dict, description: str | None, created: int) -> dict:
    return {
        "id": new_id("pi"), "object": "payment_intent", "amount": amount, "amount_capturable": 0,
        "amount_received": 0, "currency": CURRENCY, "status": "requires_payment_method",
        "capture_method": capture_method, "payment_method": None, "payment_method_types": ["card"],
        "latest_charge": None, "created": created,
        "metadata": metadata, "description": description, "cancellation_reason": None, "canceled_at": None,
        "last_payment_error": None,
    }


def charge(intent: dict, payment_method_details: dict, created: int, *, paid: bool = True) -> dict:
    """An authorized (not yet captured) charge of the intent, or a failed one (`paid=False`)."""
    return {
        "id": new_id("ch"), "object": "charge", "amount": intent["amount"], "amount_captured": 0,
        "amount_refunded": 0, "captured": False, "refunded": False, "disputed": False, "paid": paid,
        "status": "succeeded" if paid else "failed", "failure_code": None, "currency": CURRENCY,
        "payment_intent": intent["id"], "payment_method": intent["payment_method"], "balance_transaction": None,
        "created": created, "metadata": intent["metadata"], "description": intent["description"],
        "payment_method_details": payment_method_details,
    }


def card_details(brand: str, last4: str) -> dict:
    card = {"brand": brand, "last4": last4, "network": brand, "exp_month": EXPIRY[0], "exp_year": EXPIRY[1]}
    return {"type": "card", "card": card}


def card_present_details(brand: str, last4: str, authorization_code: str) -> dict:
    card_present = {
        "brand": brand, "last4": last4, "network": brand, "read_method": "contactless_emv",
        "receipt": {"authorization_code": authorization_code},
    }
    return {"type": "card_present", "card_present": card_present}


def balance_transaction(
    source: str, amount: int, fee: int, kind: str, category: str, created: int, description: str | None
) -> dict:
    """`kind` is the type (charge, refund, adjustment, payout), `category` the reporting_category."""
    fee_details = []
    if fee:
        label = "Dispute fee" if category == "dispute" else "Stripe processing fees"  # [inf] the dispute's label
        fee_details = [{"amount": fee, "currency": CURRENCY, "type": "stripe_fee", "description": label}]
    return {
        "id": new_id("txn"), "object": "balance_transaction", "amount": amount, "currency": CURRENCY, "fee": fee,
        "fee_details": fee_details, "net": amount - fee, "reporting_category": category, "source": source,
        "status": "pending", "available_on": created + AVAILABLE_AFTER_S, "created": created, "type": kind,
        "description": description,
    }


def refund(
    paid: dict, amount: int, reason: str | None, metadata: dict, created: int, transaction: str, refund_id: str
) -> dict:
    card = {"reference": refund_reference(), "reference_status": "available", "reference_type":
            "acquirer_reference_number", "type": "refund"}
    return {
        "id": refund_id, "object": "refund", "amount": amount, "currency": CURRENCY, "status": "succeeded",
        "reason": reason, "payment_intent": paid["payment_intent"], "charge": paid["id"],
        "balance_transaction": transaction, "metadata": metadata, "created": created,
        "destination_details": {"type": "card", "card": card},
    }


def dispute(paid: dict, amount: int, status: str, created: int, dispute_id: str) -> dict:
    return {
        "id": dispute_id, "object": "dispute", "amount": amount, "currency": CURRENCY, "charge": paid["id"],
        "payment_intent": paid["payment_intent"], "status": status, "reason": "fraudulent", "created": created,
    }


def payout(amount: int, created: int, arrival_date: int, transaction: str, payout_id: str) -> dict:
    return {
        "id": payout_id, "object": "payout", "amount": amount, "currency": CURRENCY, "arrival_date": arrival_date,
        "created": created, "status": "paid", "automatic": True, "balance_transaction": transaction,
        "reconciliation_status": "completed", "method": "standard", "type": "bank_account",
        "description": "STRIPE PAYOUT",
    }


def event(kind: str, data_object: dict, livemode: bool, pending_webhooks: int, request: dict) -> dict:
    return {
        "id": new_id("evt"), "object": "event", "type": kind, "data": {"object": data_object}, "created": now(),
        "livemode": livemode, "api_version": API_VERSION, "pending_webhooks": pending_webhooks, "request": request,
    }
