"""ATH Móvil (Evertec), the payment most Puerto Rico customers use, through its Payment Button API.

Facts: shared/reference/vendors-wave2.md §2.4 (the official `evertec/ATHM-Payment-Button-API`
README). A payment is created (`/payment`), the customer confirms it in the ATH Móvil app, and
`/authorization`, with the payment's own auth token, completes it; `findPayment` reads it, `cancel`
voids it before then, and refunds go to another host. Errors come as
`{"status": "error", "message", "errorcode"}`.

ATH Móvil takes no idempotency key, so a refund carries the hub's refund id in its `message` and is
looked up by it before it is sent: a retry or a double click finds the first refund instead of
making a second. The settled-transactions listing (`business/transactionReport`) is not in the
public README: it follows ATH Business's transaction report, built from the button's own fields,
until Evertec's reporting specification confirms it (ADR 0040).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q

from integrations.connectors.registry import register
from payments.gateways.port import (
    GatewayRefused,
    Payment,
    PaymentGateway,
    PaymentStatus,
    RefundResult,
    RefundState,
    SettledKind,
    SettledTransaction,
    Settlement,
    message_with_code,
    money,
    retry_transient,
)
from qiiub.http import shared_session

CODE = "payments.athmovil"
PUERTO_RICO = ZoneInfo("America/Puerto_Rico")  # ATH Móvil's dates are Puerto Rico local time
STAMP = "%Y-%m-%d %H:%M:%S"
PAYMENT_TIMEOUT_S = 600  # how long the customer has to confirm (the API's default and maximum)
# How far back a refund's own reference and a payment's status are looked up.
LOOKUP_DAYS = 120
ECOMMERCE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
STATUSES = {"OPEN": PaymentStatus.PENDING, "CONFIRM": PaymentStatus.AUTHORIZED, "COMPLETED": PaymentStatus.CAPTURED,
            "CANCEL": PaymentStatus.VOIDED}
SALE_TYPES = {"ECOMMERCE", "PAYMENT"}


def _amount(value: Decimal) -> float:
    """ATH Móvil takes amounts as JSON numbers (12.5 is $12.50)."""
    return float(value.quantize(Decimal("0.01")))


def refund_message(idempotency_key: str) -> str:
    """What a hub refund says at ATH Móvil (≤ 50 characters): how it is found again."""
    return f"QIIUB refund {idempotency_key}"[:50]


@register(CODE)
class AthMovil(PaymentGateway):
    def _post(self, path: str, body: dict, *, host: str = "", headers: dict | None = None, retry: bool = False) -> Any:
        url = f"{host or settings.ATHMOVIL_PAYMENTS_URL}{path}"
        send = lambda: self.exchange(shared_session(), "POST", url, json=body, headers=headers or {})  # noqa: E731
        # Only reads are repeated: ATH Móvil has no idempotency key to make a write safe to send twice.
        return self.retrying(send, safe=retry_transient) if retry else send()

    @property
    def _tokens(self) -> dict:
        return {"publicToken": self.credentials.get("public_token", "")}

    def refused(self, body: Any) -> bool:
        return isinstance(body, dict) and body.get("status") == "error"

    def said(self, body: Any) -> str:
        if not isinstance(body, dict):
            return ""
        return message_with_code(str(body.get("message") or ""), str(body.get("errorcode") or ""))

    def test_connection(self) -> None:
        now = datetime.now(PUERTO_RICO)
        self._report(now - timedelta(minutes=1), now)

    # --- the port ---

    @classmethod
    def tenders_taken(cls, *, unreferenced: bool = False) -> Q:
        return Q(card_brand="ath_movil")

    def authorize(self, *, amount: Decimal, payment_method: str, reference: str, idempotency_key: str) -> Payment:
        """A payment the customer confirms in the app (`payment_method` is their phone number)."""
        answer = self._post("/payment", {
            **self._tokens, "total": _amount(amount), "subtotal": _amount(amount), "tax": 0.0,
            "timeout": PAYMENT_TIMEOUT_S, "metadata1": reference[:40], "metadata2": idempotency_key[:40], "items": [],
            "phoneNumber": payment_method})
        data = answer["data"]
        return Payment(processor_ref=data["ecommerceId"], status=PaymentStatus.PENDING, amount=amount,
                       card_brand="ath_movil", capture_token=data["auth_token"])

    def capture(self, *, processor_ref: str, amount: Decimal | None, idempotency_key: str,
                capture_token: str = "") -> Payment:
        """Completes a payment the customer confirmed; ATH Móvil captures the whole amount."""
        answer = self._post("/authorization", {"ecommerceId": processor_ref},
                            headers={"Authorization": f"Bearer {capture_token}"})
        return self._payment(answer["data"])

    def void(self, *, processor_ref: str, idempotency_key: str) -> Payment:
        self._post("/business/cancel", {**self._tokens, "ecommerceId": processor_ref})
        return self.status(processor_ref=processor_ref)

    def refund(self, *, processor_ref: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        message = refund_message(idempotency_key)
        if (done := self._refund_made(message)) is not None:
            return done
        answer = self._post("/refund", {
            **self._tokens, "privateToken": self.credentials.get("private_token", ""),
            "referenceNumber": processor_ref, "amount": _amount(amount), "message": message,
        }, host=settings.ATHMOVIL_REFUND_URL)
        refund = answer["data"]["refund"]
        return RefundResult(refund_ref=str(refund["referenceNumber"]), processor_ref=processor_ref,
                            amount=money(refund["refundedAmount"]),
                            state=RefundState.SUCCEEDED if refund.get("status") == "COMPLETED" else RefundState.PENDING)

    def status(self, *, processor_ref: str) -> Payment:
        if ECOMMERCE_ID.match(processor_ref):
            answer = self._post("/business/findPayment", {**self._tokens, "ecommerceId": processor_ref}, retry=True)
            return self._payment(answer["data"])
        now = datetime.now(PUERTO_RICO)
        rows = [row for row in self._report(now - timedelta(days=LOOKUP_DAYS), now)
                if str(row.get("referenceNumber")) == processor_ref and row.get("transactionType") in SALE_TYPES]
        if not rows:
            raise GatewayRefused("payment_not_found", vendor=self.vendor, reference=processor_ref)
        return self._payment({**rows[0], "ecommerceStatus": "COMPLETED"})

    def settled(self, *, day: date, zone: ZoneInfo) -> Settlement:
        start = datetime.combine(day, clock(0), tzinfo=zone)
        settlement = Settlement(day=day)
        for row in self._report(start, start + timedelta(days=1) - timedelta(seconds=1)):
            if row.get("status") != "COMPLETED":
                continue
            transacted_at = datetime.strptime(row["date"], STAMP).replace(tzinfo=PUERTO_RICO).astimezone(zone)
            if not start <= transacted_at < start + timedelta(days=1):
                continue  # the report's seconds are inclusive on both ends
            settlement.transactions.append(self._settled(row, transacted_at))
        return settlement

    # --- reading ATH Móvil's answers ---

    def _report(self, start: datetime, end: datetime) -> list[dict]:
        answer = self._post("/business/transactionReport", {
            **self._tokens, "privateToken": self.credentials.get("private_token", ""),
            "fromDate": start.astimezone(PUERTO_RICO).strftime(STAMP),
            "toDate": end.astimezone(PUERTO_RICO).strftime(STAMP)}, retry=True)
        return list(answer.get("data") or [])

    def _refund_made(self, message: str) -> RefundResult | None:
        now = datetime.now(PUERTO_RICO)
        for row in self._report(now - timedelta(days=LOOKUP_DAYS), now):
            if row.get("transactionType") == "REFUND" and row.get("message") == message:
                return RefundResult(refund_ref=str(row["referenceNumber"]),
                                    processor_ref=str(row.get("originalReferenceNumber") or ""),
                                    amount=abs(money(row["total"])))
        return None

    def _payment(self, data: dict) -> Payment:
        status = STATUSES.get(str(data.get("ecommerceStatus")), PaymentStatus.PENDING)
        total = money(data.get("total") or 0)
        refunded = money(data.get("totalRefundedAmount") or 0)
        if status == PaymentStatus.CAPTURED and refunded:
            status = PaymentStatus.REFUNDED if refunded >= total else PaymentStatus.PARTIALLY_REFUNDED
        captured = total if status in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED,
                                       PaymentStatus.REFUNDED) else Decimal("0.00")
        reference = data.get("referenceNumber") or data.get("ecommerceId") or ""
        return Payment(processor_ref=str(reference), status=status, amount=total, captured=captured,
                       refunded=refunded, card_brand="ath_movil")

    def _settled(self, row: dict, transacted_at: datetime) -> SettledTransaction:
        refund = row.get("transactionType") == "REFUND"
        gross = -abs(money(row.get("total") or 0)) if refund else money(row.get("total") or 0)
        fee = money(row.get("fee") or 0)
        return SettledTransaction(
            transaction_ref=str(row["referenceNumber"]), processor_ref=str(row["referenceNumber"]),
            kind=SettledKind.REFUND if refund else SettledKind.SALE, gross=gross, fee=fee,
            net=money(row["netAmount"]) if row.get("netAmount") is not None else gross - fee,
            transacted_at=transacted_at, card_brand="ath_movil",
            original_ref=str(row.get("originalReferenceNumber") or "") if refund else "")
