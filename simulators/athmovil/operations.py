"""The ATH Móvil fake's vendor operations, each taking the parsed JSON body (and the Authorization header where the
README asks for one) and giving back the `data` of a success answer or raising `AthError`. Called with the state
lock held."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime

from simulators.athmovil.replies import (
    ERRORS,
    LOCAL_FORMAT,
    NO_BODY,
    AthError,
    missing,
    parse_amount,
    text_field,
)
from simulators.athmovil.state import ZERO, AthMovilState, Business, Entry, Payment

MIN_TOTAL, MAX_TOTAL = parse_amount("1.00", "total"), parse_amount("1500.00", "total")
MIN_TIMEOUT_S, MAX_TIMEOUT_S = 120, 600
# Fixed stand-ins for what the README's answers show of the business and of the paying customer.
BUSINESS = {"businessName": "QIIUB Demo Business", "businessPath": "QIIUBDemoBusiness", "industry": "RETAIL"}
PAYER = {"name": "Cliente de Prueba", "phoneNumber": "(787) 555-0100", "email": "cliente.prueba@example.com"}


def new_ecommerce_id() -> str:
    """Time-based UUIDs, as the README's ecommerceIds are, with a random node instead of this host's address."""
    return str(uuid.uuid1(node=secrets.randbits(48) | 1 << 40))


# --- reading requests ---


def require_body(body) -> dict:
    if not body:
        raise AthError("BTRA_0006", NO_BODY)
    return body


def _string(body: dict, name: str) -> str:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise missing(name)
    if not isinstance(value, str):
        raise AthError("BTRA_0006", f"Invalid format: {name} must be a string")
    return value.strip()


def _business(state: AthMovilState, body: dict, *, private: bool = False) -> Business:
    """The business a publicToken names (and, for refunds and reports, the privateToken bound to it)."""
    public_token = _string(body, "publicToken")
    if public_token in state.revoked:
        raise AthError("BTRA_0401", status=401)
    business = state.business(public_token)
    if private and not state.bind_private_token(business, _string(body, "privateToken")):
        raise AthError("BTRA_0403", status=401)
    return business


def _owned_payment(state: AthMovilState, body: dict, business: Business) -> Payment:
    payment = state.payments.get(_string(body, "ecommerceId"))
    if payment is None:
        raise AthError("BTRA_0031")
    if payment.business is not business:
        raise AthError("BTRA_0043")
    return state.refresh(payment)


def _phone(value) -> str:
    digits = re.sub(r"[\s()\-+.]", "", str(value)) if isinstance(value, str | int) else ""
    if not re.fullmatch(r"1?\d{10}", digits):
        raise AthError("BTRA_0006", "Invalid format: phoneNumber must have 10 digits")
    return digits[-10:]


def _timeout(value) -> int:
    if value is None:
        return MAX_TIMEOUT_S  # the README's default
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isdigit() or not MIN_TIMEOUT_S <= int(text) <= MAX_TIMEOUT_S:
        raise AthError("BTRA_0006", f"Invalid format: timeout must be from {MIN_TIMEOUT_S} to {MAX_TIMEOUT_S} seconds")
    return int(text)


def _part(body: dict, name: str):
    """An optional amount (tax, subtotal): 0.00 when absent, never negative."""
    if body.get(name) is None:
        return ZERO
    amount = parse_amount(body[name], name)
    if amount < 0:
        raise AthError("BTRA_0006", f"Invalid format: {name} must not be negative")
    return amount


def _items(value) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise AthError("BTRA_0006", "Invalid format: items must be a list of objects")
    items = []
    for item in value:
        quantity = str(item.get("quantity", 1)).strip()
        if isinstance(item.get("quantity"), bool) or not quantity.isdigit() or int(quantity) < 1:
            raise AthError("BTRA_0006", "Invalid format: items.quantity must be a positive integer")
        items.append(
            {
                "name": text_field(item, "name", 100, "BTRA_0006"),
                "description": text_field(item, "description", 200, "BTRA_0006"),
                "quantity": int(quantity),
                "price": _part(item, "price"),
                "tax": _part(item, "tax"),
                "metadata": text_field(item, "metadata", 40, "BTRA_0038"),
                "formattedPrice": "",
                "sku": "",
            }
        )
    return items


# --- answers ---


def _payer(phone: str) -> dict:
    if len(phone) == 10:
        return {**PAYER, "phoneNumber": f"({phone[:3]}) {phone[3:6]}-{phone[6:]}"}
    return dict(PAYER)


def payment_view(payment: Payment) -> dict:
    """A payment as findPayment and /authorization show it; reference, date and fee only once COMPLETED."""
    entry = payment.entry
    view = {
        "ecommerceStatus": payment.status,
        "ecommerceId": payment.ecommerce_id,
        "referenceNumber": entry.reference if entry else "",
        "businessCustomerId": payment.business.customer_id,
        "transactionDate": entry.at.strftime(LOCAL_FORMAT) if entry else "",
        "dailyTransactionId": entry.daily_id if entry else "",
        **BUSINESS,
        "subTotal": payment.subtotal,
        "tax": payment.tax,
        "total": payment.total,
        "fee": entry.fee if entry else ZERO,
        "netAmount": entry.net if entry else ZERO,
        "totalRefundedAmount": entry.refunded if entry else ZERO,
        "metadata1": payment.metadata1,
        "metadata2": payment.metadata2,
        "items": [dict(item) for item in payment.items],
        "isNonProfit": False,
    }
    if entry:
        view.update(_payer(payment.phone))
    return view


def _original_view(entry: Entry) -> dict:
    return {
        "transactionType": entry.kind,
        "status": "COMPLETED",
        "date": entry.at.strftime(LOCAL_FORMAT),
        "referenceNumber": entry.reference,
        "dailyTransactionID": entry.daily_id,  # the README's refund answer spells it with "ID"
        **_payer(entry.phone),
        "message": "",
        "total": entry.total,
        "tax": entry.tax,
        "subtotal": entry.subtotal,
        "fee": entry.fee,
        "netAmount": entry.net,
        "totalRefundedAmount": entry.refunded,
        "metadata1": entry.metadata1,
        "metadata2": entry.metadata2,
        "items": [dict(item) for item in entry.items],
    }


def report_row(entry: Entry) -> dict:
    """A transactionReport row [inferred]; a REFUND's amounts are negative (money going back to the customer)."""
    refund = entry.kind == "REFUND"

    def sign(amount):
        return -amount if refund and amount else amount

    row = {
        "transactionType": entry.kind,
        "status": "COMPLETED",
        "referenceNumber": entry.reference,
        "dailyTransactionId": entry.daily_id,
        "date": entry.at.strftime(LOCAL_FORMAT),
        "total": sign(entry.total),
        "tax": sign(entry.tax),
        "subtotal": sign(entry.subtotal),
        "fee": entry.fee,
        "netAmount": sign(entry.net),
        "totalRefundedAmount": entry.refunded,
        "metadata1": entry.metadata1,
        "metadata2": entry.metadata2,
    }
    if entry.kind == "ECOMMERCE":
        row["ecommerceId"] = entry.ecommerce_id
    if entry.kind == "REFUND":
        row.update(originalReferenceNumber=entry.original_reference, message=entry.message)
    return row


# --- the routes ---


def create_payment(state: AthMovilState, body: dict) -> dict:
    business = _business(state, require_body(body))
    total = parse_amount(body.get("total"), "total")
    if total == 0:
        raise AthError("BTRA_0013")
    if total < MIN_TOTAL:
        raise AthError("BTRA_0001")
    if total > MAX_TOTAL:
        raise AthError("BTRA_0004")
    payment = Payment(
        new_ecommerce_id(),
        business,
        total,
        _part(body, "tax"),
        _part(body, "subtotal"),
        _timeout(body.get("timeout")),
        text_field(body, "metadata1", 40, "BTRA_0038", required=True),
        text_field(body, "metadata2", 40, "BTRA_0038", required=True),
        _items(body.get("items")),
        "" if body.get("phoneNumber") in (None, "") else _phone(body["phoneNumber"]),
        state.now(),
    )
    payment.status = "CONFIRM" if state.auto_confirm else "OPEN"  # auto_confirm: the customer accepts at once
    state.payments[payment.ecommerce_id] = payment
    business.counts["payments"] += 1
    token = state.signer.issue(payment.ecommerce_id, payment.created_at, payment.expires_at)
    return {"ecommerceId": payment.ecommerce_id, "auth_token": token}


def authorize(state: AthMovilState, authorization: str | None, body: dict) -> dict:
    """Completes a payment the customer confirmed; the ecommerceId comes from the auth_token (a body may repeat it)."""
    ecommerce_id = state.signer.read(authorization, state.now(), state.local)
    if body.get("ecommerceId") not in (None, ecommerce_id):
        raise AthError("BTRA_0006", "Invalid format: ecommerceId does not match the auth_token")
    payment = state.payments.get(ecommerce_id)
    if payment is None:
        raise AthError("BTRA_0031")
    if payment.business.public_token in state.revoked:
        raise AthError("BTRA_0401", status=401)
    status = state.refresh(payment).status
    if status == "OPEN":
        raise AthError("BTRA_0032")
    if status == "CANCEL" and payment.expired:
        raise AthError("BTRA_0039", "Valid time to execute the transaction has expired")
    if status != "CONFIRM":
        raise AthError("BTRA_0035")
    state.complete(payment)
    return payment_view(payment)


def find_payment(state: AthMovilState, body: dict) -> dict:
    body = require_body(body)
    return payment_view(_owned_payment(state, body, _business(state, body)))


def cancel(state: AthMovilState, body: dict) -> str:
    body = require_body(body)
    payment = _owned_payment(state, body, _business(state, body))
    if payment.status == "COMPLETED":
        raise AthError("BTRA_0035")  # completed: only a refund gives the money back
    payment.status = "CANCEL"  # cancelling a cancelled payment answers the same [inferred]
    return "Payment Cancelled."


def update_phone(state: AthMovilState, authorization: str | None, body: dict) -> str:
    body = require_body(body)
    payment = _owned_payment(state, body, _business(state, body))
    if authorization and state.signer.read(authorization, state.now(), state.local) != payment.ecommerce_id:
        raise AthError("token.invalid.header", "Invalid authorization header.", 401)
    if body.get("phoneNumber") in (None, ""):
        raise missing("phoneNumber")
    phone = _phone(body["phoneNumber"])
    if payment.status != "OPEN":
        raise AthError("BTRA_0035")  # the customer already answered: nobody left to notify
    payment.phone = phone
    return "Update Phone Number"


def refund(state: AthMovilState, body: dict) -> dict:
    """Refunds part or all of a completed transaction; every call refunds again (ATH has no idempotency key)."""
    business = _business(state, require_body(body), private=True)
    reference = _string(body, "referenceNumber")
    message = text_field(body, "message", 50, "BTRA_0040")
    amount = parse_amount(body.get("amount"), "amount")
    if amount == 0:
        raise AthError("BTRA_0013")
    if amount < 0:
        raise AthError("BTRA_0028", f"amount {ERRORS['BTRA_0028']}")
    original = state.ledger.get(reference)
    if original is None:
        raise AthError("BTRA_0053")
    if original.business is not business:
        raise AthError("BTRA_0008")
    if original.kind == "REFUND":
        raise AthError("BTRA_0021")
    if amount > original.total - original.refunded:  # no README code for this: BTRA_0004 chosen [inferred]
        raise AthError("BTRA_0004", "Amount is Over the limits: it exceeds what is left to refund")
    made = state.refund(original, amount, message)
    return {
        "refund": {
            "transactionType": "REFUND",
            "status": "COMPLETED",
            "refundedAmount": amount,
            "date": made.at.strftime(LOCAL_FORMAT),
            "referenceNumber": made.reference,
            "dailyTransactionID": made.daily_id,
            **_payer(original.phone),
            "message": message,
        },
        "originalTransaction": _original_view(original),
    }


def _report_date(body: dict, name: str, code: str) -> datetime:
    text = _string(body, name)
    try:
        return datetime.strptime(text, LOCAL_FORMAT)
    except ValueError:
        raise AthError(code) from None


def transaction_report(state: AthMovilState, body: dict) -> list[dict]:
    """Completed transactions with from ≤ date ≤ to (Puerto Rico time), by date [inferred: no public spec]."""
    business = _business(state, require_body(body), private=True)
    start = _report_date(body, "fromDate", "BTRA_0023")
    end = _report_date(body, "toDate", "BTRA_0024")
    if start > end:
        raise AthError("BTRA_0025")
    if start > state.local_now():
        raise AthError("BTRA_0047")
    chosen = [entry for entry in business.entries if start <= entry.at <= end]
    return [report_row(entry) for entry in sorted(chosen, key=lambda entry: entry.at)]
