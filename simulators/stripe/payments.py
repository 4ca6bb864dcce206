"""Moving money in an account: PaymentIntents created (and confirmed) with Stripe's test payment methods, captured
in full or in part, cancelled; refunds; the balance transaction each movement makes; the events each change emits.

A confirmed intent with `capture_method=manual` waits in `requires_capture` with an uncaptured charge; `automatic`
captures at once (`succeeded`, balance transaction with the processing fee). A declining test method answers 402
`card_error` and leaves the intent in `requires_payment_method` with a failed charge [inf: as Stripe does; the error's
`payment_intent` is the intent object, as Stripe documents, and `payment_intent.payment_failed` is emitted].
[inf] A refund may take up to what was captured less what was refunded; the uncaptured rest of a partial capture
is simply released (Stripe also shows it in `amount_refunded`; this fake does not). Cancelling an intent in
`requires_capture` leaves its charge uncaptured.
"""

from __future__ import annotations

from simulators.base import Reply
from simulators.stripe.errors import error_reply, invalid, no_such, unexpected_state
from simulators.stripe.forms import Call
from simulators.stripe.listing import answer
from simulators.stripe.objects import (
    DECLINED_CARDS,
    MAX_AMOUNT,
    TEST_CARDS,
    balance_transaction,
    card_details,
    charge,
    new_id,
    now,
    payment_intent,
    refund,
)

CAPTURE_METHODS = ("automatic", "manual")
CONFIRMABLE = ("requires_payment_method", "requires_confirmation")
CANCELLABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
NO_PAYMENT_METHOD = (
    "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with "
    "{}, specify a payment method attached to this customer along with the customer ID."
)


def dollars(cents: int) -> str:
    return f"${cents / 100:,.2f}"


def known_payment_method(call: Call, param: str = "payment_method") -> str | None:
    method = call.text(param)
    if method is not None and method not in TEST_CARDS and method not in DECLINED_CARDS:
        raise no_such("PaymentMethod", method, param)
    return method


def charge_transaction(paid: dict, amount: int, fee: int, created: int) -> dict:
    """Captures `amount` of the charge: its balance transaction (kept by the caller) is made and linked."""
    txn = balance_transaction(paid["id"], amount, fee, "charge", "charge", created, paid["description"])
    paid.update(captured=True, amount_captured=amount, balance_transaction=txn["id"])
    return txn


def refund_objects(paid: dict, amount: int, reason: str | None, metadata: dict, created: int) -> tuple[dict, dict]:
    """A refund of the charge and its (negative, fee-free) balance transaction, for the caller to keep."""
    refund_id = new_id("re")
    description = f"REFUND FOR CHARGE ({paid['description'] or paid['id']})"
    txn = balance_transaction(refund_id, -amount, 0, "refund", "refund", created, description)
    paid["amount_refunded"] += amount
    paid["refunded"] = paid["amount_refunded"] >= paid["amount_captured"]
    return refund(paid, amount, reason, metadata, created, txn["id"], refund_id), txn


def create_payment_intent(call: Call) -> Reply:
    call.allow(
        "amount", "currency", "capture_method", "confirm", "payment_method", "payment_method_types", "metadata",
        "description",
    )
    amount = call.positive_int("amount", required=True)
    if amount > MAX_AMOUNT:
        raise invalid(f"Amount must be no more than {dollars(MAX_AMOUNT)}", "amount", "amount_too_large")
    call.currency()
    capture_method = call.choice("capture_method", CAPTURE_METHODS, "automatic")
    confirm = call.boolean("confirm")
    method = known_payment_method(call)
    metadata, description = call.metadata(), call.text("description")
    if confirm and method is None:
        raise unexpected_state(NO_PAYMENT_METHOD.format("a customer"))
    intent = call.account.add(payment_intent(amount, capture_method, metadata, description, now()))
    if method is not None:
        intent.update(payment_method=method, status="requires_confirmation")
    return confirmed(call, intent) if confirm else answer(call, call.account.render(intent["id"]))


def confirm_payment_intent(call: Call, intent_id: str) -> Reply:
    call.allow("payment_method")
    intent = existing_intent(call, intent_id)
    if intent["status"] not in CONFIRMABLE:
        raise unexpected_state(
            f"This PaymentIntent's status is {intent['status']}; only a PaymentIntent with one of the following "
            f"statuses may be confirmed: {', '.join(CONFIRMABLE)}."
        )
    method = known_payment_method(call) or intent["payment_method"]
    if method is None:
        raise unexpected_state(NO_PAYMENT_METHOD.format("a customer"))
    intent["payment_method"] = method
    return confirmed(call, intent)


def confirmed(call: Call, intent: dict) -> Reply:
    """Confirms the intent with its payment method: declined (402), authorized, or captured at once."""
    account, method, created = call.account, intent["payment_method"], now()
    if method in DECLINED_CARDS:
        brand, last4, decline_code, message = DECLINED_CARDS[method]
        failed = account.add(charge(intent, card_details(brand, last4), created, paid=False))
        failed["failure_code"] = "card_declined"
        error = {"type": "card_error", "code": "card_declined", "decline_code": decline_code, "message": message,
                 "charge": failed["id"], "payment_method": {"id": method, "object": "payment_method", "type": "card"}}
        intent.update(status="requires_payment_method", payment_method=None, latest_charge=failed["id"],
                      last_payment_error=error)
        call.state.emit(account, "payment_intent.payment_failed", intent["id"], call.request)
        return error_reply(
            402, "card_error", message, code="card_declined", decline_code=decline_code, charge=failed["id"],
            payment_intent=account.render(intent["id"]),
        )
    paid = account.add(charge(intent, card_details(*TEST_CARDS[method]), created))
    intent.update(latest_charge=paid["id"], last_payment_error=None)
    if intent["capture_method"] == "manual":
        intent.update(status="requires_capture", amount_capturable=intent["amount"])
        return answer(call, account.render(intent["id"]))
    return captured(call, intent, paid, intent["amount"])


def captured(call: Call, intent: dict, paid: dict, amount: int) -> Reply:
    created = now()
    call.account.add(charge_transaction(paid, amount, call.state.fee(amount), created), payable=True)
    intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
    call.state.emit(call.account, "payment_intent.succeeded", intent["id"], call.request)
    return answer(call, call.account.render(intent["id"]))


def existing_intent(call: Call, intent_id: str) -> dict:
    intent = call.account.get(intent_id, "payment_intent")
    if intent is None:
        raise no_such("payment_intent", intent_id)
    return intent


def capture_payment_intent(call: Call, intent_id: str) -> Reply:
    call.allow("amount_to_capture")
    intent = existing_intent(call, intent_id)
    amount = call.positive_int("amount_to_capture")
    if intent["status"] != "requires_capture":
        raise unexpected_state(
            f"This PaymentIntent could not be captured because it has a status of {intent['status']}. Only a "
            "PaymentIntent with one of the following statuses may be captured: requires_capture."
        )
    capturable = intent["amount_capturable"]
    if amount is not None and amount > capturable:
        raise invalid(
            f"The amount to capture ({amount}) must be less than or equal to the PaymentIntent's amount_capturable "
            f"({capturable}).", "amount_to_capture", "amount_too_large",
        )
    paid = call.account.objects[intent["latest_charge"]]
    return captured(call, intent, paid, capturable if amount is None else amount)


def cancel_payment_intent(call: Call, intent_id: str) -> Reply:
    call.allow("cancellation_reason")
    intent = existing_intent(call, intent_id)
    reason = call.choice("cancellation_reason", CANCELLATION_REASONS)
    if intent["status"] not in CANCELLABLE:
        raise unexpected_state(
            f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}. Only a "
            f"PaymentIntent with one of the following statuses may be canceled: {', '.join(CANCELLABLE)}."
        )
    intent.update(status="canceled", cancellation_reason=reason, canceled_at=now(), amount_capturable=0)
    call.state.emit(call.account, "payment_intent.canceled", intent_id, call.request)
    return answer(call, call.account.render(intent_id))


def refunded_charge(call: Call) -> dict:
    """The captured charge a refund is asked for, by `payment_intent` or `charge`."""
    account, intent_id, charge_id = call.account, call.text("payment_intent"), call.text("charge")
    if intent_id is None and charge_id is None:
        raise invalid("One of the following params should be provided for this request: payment_intent or charge.")
    paid = None
    if intent_id is not None:
        intent = account.get(intent_id, "payment_intent")
        if intent is None:
            raise no_such("payment_intent", intent_id, "payment_intent")
        if intent["status"] != "succeeded":
            raise invalid(
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.", "payment_intent"
            )
        paid = account.objects[intent["latest_charge"]]
    if charge_id is not None:
        if paid is not None and paid["id"] != charge_id:
            raise invalid(f"Charge {charge_id} does not belong to PaymentIntent {intent_id}.", "charge")
        paid = account.get(charge_id, "charge")
        if paid is None:
            raise no_such("charge", charge_id, "charge")
    if not paid["captured"]:
        raise invalid(f"Charge {paid['id']} has not been captured, so there is nothing to refund.", "charge")
    return paid


def create_refund(call: Call) -> Reply:
    call.allow("payment_intent", "charge", "amount", "reason", "metadata")
    paid = refunded_charge(call)
    amount = call.positive_int("amount")
    reason, metadata = call.choice("reason", REFUND_REASONS), call.metadata()
    left = paid["amount_captured"] - paid["amount_refunded"]
    if left <= 0:
        raise invalid(f"Charge {paid['id']} has already been refunded.", "charge", "charge_already_refunded")
    if amount is not None and amount > left:
        raise invalid(
            f"Refund amount ({dollars(amount)}) is greater than unrefunded amount on charge ({dollars(left)})",
            "amount", "amount_too_large",
        )
    made, txn = refund_objects(paid, left if amount is None else amount, reason, metadata, now())
    call.account.add(txn, payable=True)
    call.account.add(made)
    call.state.emit(call.account, "refund.created", made["id"], call.request)
    call.state.emit(call.account, "charge.refunded", paid["id"], call.request)
    return answer(call, call.account.render(made["id"]))
