"""Stripe, through PaymentIntents with manual capture (terminals' card-present payments included).

Facts: shared/reference/vendors-wave2.md §2.2. Form-encoded bodies, amounts in cents, an
`Idempotency-Key` on every POST (the hub's own operation id, so a retry or a double click is one
operation at Stripe), the `{"error": {…}}` envelope, and `Stripe-Should-Retry` over everything
else when deciding whether a failure may be repeated. Settlement is read from balance
transactions (the charge, refund or dispute expanded as their source) and payouts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import requests
from django.conf import settings
from django.db.models import Q

from integrations.connectors.base import InboundMeta, InboundRejected
from integrations.connectors.registry import register
from payments.gateways.port import (
    Payment,
    PaymentDeclined,
    PaymentGateway,
    PaymentStatus,
    Payout,
    RefundResult,
    RefundState,
    SettledKind,
    SettledTransaction,
    Settlement,
    UnknownOutcome,
    cents,
    from_cents,
    retry_transient,
)
from qiiub.card_guard import mask_card_numbers
from qiiub.http import ConnectorError, VendorUnavailable, shared_session

CODE = "payments.stripe"
PAGE_SIZE = 100  # Stripe's largest page
SIGNATURE_TOLERANCE_S = 300  # Stripe's default tolerance for a webhook's timestamp
# Balance transactions by reporting category; the others (fees, adjustments, reversals) are what the
# processor took or gave with no sale of the till's: adjustments. Payouts are listed apart.
KINDS = {"charge": SettledKind.SALE, "refund": SettledKind.REFUND, "dispute": SettledKind.CHARGEBACK,
         "payout": None, "payout_reversal": None}
REFUND_STATES = {"succeeded": RefundState.SUCCEEDED, "pending": RefundState.PENDING,
                 "requires_action": RefundState.PENDING, "failed": RefundState.FAILED, "canceled": RefundState.FAILED}


def _form(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested objects as `metadata[key]`, lists as `expand[]`."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        if isinstance(value, dict):
            pairs.extend(_form(value, name))
        elif isinstance(value, list):
            pairs.extend((f"{name}[]", str(item)) for item in value)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


@register(CODE)
class Stripe(PaymentGateway):
    capabilities = PaymentGateway.capabilities | {"receive_webhook"}
    idempotent_writes = True
    takes_unreferenced = True

    @property
    def _url(self) -> str:
        return settings.STRIPE_API_URL

    def _call(self, method: str, path: str, *, params: dict | None = None, idempotency_key: str = "") -> Any:
        headers = {"Authorization": f"Bearer {self.credentials.get('secret_key', '')}",
                   "Stripe-Version": settings.STRIPE_API_VERSION}
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key
            kwargs = {"data": _form(params or {})}
        else:
            kwargs = {"params": _form(params or {})}
        # The same request, key and all, is the same operation at Stripe: safe to repeat.
        return self.retrying(
            lambda: self.exchange(shared_session(), method, f"{self._url}{path}", headers=headers, **kwargs),
            safe=retry_transient)

    def transient(self, response: requests.Response, error: ConnectorError) -> ConnectorError:
        if response.headers.get("Stripe-Should-Retry") == "false":
            # Stripe stored this answer against the key: repeating it changes nothing; a status read decides.
            return UnknownOutcome("vendor_status", vendor=self.vendor, status=response.status_code)
        return error

    def refusal(self, response: requests.Response, body: Any) -> ConnectorError:
        if response.headers.get("Stripe-Should-Retry") == "true":  # 409 lock_timeout and the like
            return VendorUnavailable("vendor_status", vendor=self.vendor, status=response.status_code)
        if response.status_code == 402:
            return PaymentDeclined("vendor_refused_said", vendor=self.vendor, status=402,
                                   said=mask_card_numbers(self.said(body)))
        return super().refusal(response, body)

    def said(self, body: Any) -> str:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("message") or error.get("code") or "")[:300]
        return str(error or "")[:300]  # OAuth endpoints send a string

    def test_connection(self) -> None:
        self._call("GET", "/v1/payouts", params={"limit": 1})

    # --- the port ---

    @classmethod
    def tenders_taken(cls, *, unreferenced: bool = False) -> Q:
        # pi_/ch_: a payment; re_: a return the hub refunded through Stripe.
        taken = (Q(processor_ref__startswith="pi_") | Q(processor_ref__startswith="ch_")
                 | Q(processor_ref__startswith="re_"))
        return taken | cls.unreferenced_tenders() if unreferenced else taken

    def authorize(self, *, amount: Decimal, payment_method: str, reference: str, idempotency_key: str) -> Payment:
        intent = self._call("POST", "/v1/payment_intents", idempotency_key=idempotency_key, params={
            "amount": cents(amount), "currency": "usd", "capture_method": "manual", "confirm": True,
            "payment_method": payment_method, "metadata": {"qiiub_reference": reference}})
        return self._payment(intent)

    def capture(self, *, processor_ref: str, amount: Decimal | None, idempotency_key: str,
                capture_token: str = "") -> Payment:
        params = {"amount_to_capture": cents(amount)} if amount is not None else {}
        return self._payment(self._call("POST", f"/v1/payment_intents/{processor_ref}/capture", params=params,
                                        idempotency_key=idempotency_key))

    def void(self, *, processor_ref: str, idempotency_key: str) -> Payment:
        return self._payment(self._call("POST", f"/v1/payment_intents/{processor_ref}/cancel",
                                        params={"cancellation_reason": "requested_by_customer"},
                                        idempotency_key=idempotency_key))

    def refund(self, *, processor_ref: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        # Stripe forgets an idempotency key after a day: a refund asked again later is found by the
        # hub's id in its metadata before it could be made twice.
        made = self._call("GET", "/v1/refunds", params={"payment_intent": processor_ref, "limit": PAGE_SIZE})
        refund = next((row for row in made["data"]
                       if (row.get("metadata") or {}).get("qiiub_refund") == idempotency_key), None)
        if refund is None:
            refund = self._call("POST", "/v1/refunds", idempotency_key=idempotency_key, params={
                "payment_intent": processor_ref, "amount": cents(amount), "reason": "requested_by_customer",
                "metadata": {"qiiub_refund": idempotency_key}})
        return RefundResult(refund_ref=refund["id"], processor_ref=processor_ref, amount=from_cents(refund["amount"]),
                            state=REFUND_STATES.get(refund.get("status"), RefundState.PENDING))

    def status(self, *, processor_ref: str) -> Payment:
        return self._payment(self._call("GET", f"/v1/payment_intents/{processor_ref}"))

    def settled(self, *, day: date, zone: ZoneInfo) -> Settlement:
        start = datetime.combine(day, clock(0), tzinfo=zone)
        window = {"gte": int(start.timestamp()), "lt": int((start + timedelta(days=1)).timestamp())}
        settlement = Settlement(day=day)
        for row in self._listed("/v1/balance_transactions", {"created": window, "expand": ["data.source"]}):
            if (kind := KINDS.get(row.get("reporting_category"), SettledKind.ADJUSTMENT)) is not None:
                settlement.transactions.append(self._settled(row, kind, zone))
        # A payout's arrival date is a date, given as midnight UTC.
        arriving = datetime.combine(day, clock(0), tzinfo=UTC)
        arrival = {"gte": int(arriving.timestamp()), "lt": int((arriving + timedelta(days=1)).timestamp())}
        for payout in self._listed("/v1/payouts", {"arrival_date": arrival}):
            settlement.payouts.append(Payout(payout["id"], datetime.fromtimestamp(payout["arrival_date"], UTC).date(),
                                             from_cents(payout["amount"])))
        return settlement

    # --- reading Stripe's objects ---

    def _listed(self, path: str, params: dict) -> list[dict]:
        rows: list[dict] = []
        after: str | None = None
        while True:
            page = self._call("GET", path, params={**params, "limit": PAGE_SIZE, "starting_after": after})
            rows.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return rows
            after = page["data"][-1]["id"]

    def _payment(self, intent: dict) -> Payment:
        amount = from_cents(intent["amount"])
        charge = self._call("GET", f"/v1/charges/{intent['latest_charge']}") if intent.get("latest_charge") else {}
        card = _card(charge)
        captured = from_cents(charge.get("amount_captured", 0)) if charge.get("captured") else Decimal("0.00")
        refunded = from_cents(charge.get("amount_refunded", 0))
        state = intent["status"]
        if state == "requires_capture":
            status = PaymentStatus.AUTHORIZED
        elif state == "canceled":
            status = PaymentStatus.VOIDED
        elif state == "succeeded":
            status = (PaymentStatus.REFUNDED if refunded and refunded >= captured
                      else PaymentStatus.PARTIALLY_REFUNDED if refunded else PaymentStatus.CAPTURED)
        elif intent.get("last_payment_error"):
            status = PaymentStatus.DECLINED
        else:
            status = PaymentStatus.PENDING
        return Payment(processor_ref=intent["id"], status=status, amount=amount, captured=captured, refunded=refunded,
                       auth_code=card.get("auth_code", ""), card_brand=card.get("brand", ""),
                       card_last4=card.get("last4", ""))

    def _settled(self, row: dict, kind: SettledKind, zone: ZoneInfo) -> SettledTransaction:
        source = row.get("source") if isinstance(row.get("source"), dict) else {}
        card = _card(source) if kind == SettledKind.SALE else {}
        payment = source.get("payment_intent") or (source.get("id", "") if kind == SettledKind.SALE else "")
        own = source.get("id", "") or str(row.get("source") or row["id"])
        return SettledTransaction(
            transaction_ref=row["id"], processor_ref=payment if kind == SettledKind.SALE else own,
            original_ref="" if kind == SettledKind.SALE else payment, kind=kind,
            gross=from_cents(row["amount"]), fee=from_cents(row.get("fee", 0)), net=from_cents(row["net"]),
            transacted_at=datetime.fromtimestamp(row["created"], UTC).astimezone(zone),
            auth_code=card.get("auth_code", ""), card_last4=card.get("last4", ""), card_brand=card.get("brand", ""),
            terminal=str((source.get("metadata") or {}).get("terminal", "")))

    # --- webhooks pushed by Stripe ---

    @classmethod
    def verify_inbound(cls, *, headers, body: bytes, credentials: dict) -> InboundMeta:
        """`Stripe-Signature: t=…,v1=…[,v1=…]`: any v1 matching HMAC-SHA256(secret, "t.body"), with
        t within Stripe's 5-minute tolerance (several v1 appear while a secret rotates)."""
        secret = credentials.get("webhook_secret", "")
        given = headers.get("Stripe-Signature", "")
        if not secret or not given:
            raise InboundRejected("Missing Stripe signature.")
        parts = [part.split("=", 1) for part in given.split(",") if "=" in part]
        stamps = [value for name, value in parts if name == "t"]
        signatures = [value for name, value in parts if name == "v1"]
        if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
            raise InboundRejected("The Stripe signature header is malformed.")
        if abs(time.time() - int(stamps[0])) > SIGNATURE_TOLERANCE_S:
            raise InboundRejected("The Stripe webhook is stale (timestamp outside the 5-minute tolerance).")
        expected = hmac.new(secret.encode(), stamps[0].encode() + b"." + body, hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, signature) for signature in signatures):
            raise InboundRejected("The Stripe signature does not match.")
        event = _event_head(body)
        return InboundMeta(webhook_id=event["id"], topic=event["type"])

    def process_inbound(self, *, merchant, topic: str, payload: dict) -> None:
        from payments.inbound import stripe_event_apply

        stripe_event_apply(integration=self.integration, topic=topic, payload=payload)


def _card(charge: dict) -> dict:
    details = charge.get("payment_method_details") or {}
    card = details.get("card_present") or details.get("card") or {}
    auth_code = (card.get("receipt") or {}).get("authorization_code") or card.get("authorization_code") or ""
    return {"brand": card.get("brand") or "", "last4": card.get("last4") or "", "auth_code": auth_code}


def _event_head(body: bytes) -> dict:
    try:
        event = json.loads(body)
    except ValueError:
        raise InboundRejected("The Stripe webhook body is not JSON.") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise InboundRejected("The Stripe webhook has no event id or type.")
    return event
