"""Dynamics Payments, the Puerto Rico processor (Visa, Mastercard, ATH cards).

Dynamics Payments publishes no API. This adapter follows the only public facts
(shared/reference/vendors-wave2.md §2.3: an unofficial client of its token API): JSON POSTs with
`SessionId`, `SiteId` and `MessageHash = Base64(SHA256(secret + siteId + sessionId + fields))`
headers, card tokens (never card numbers), an auth → mark → batch-close lifecycle, and Spanish
status strings. Refunds, batch close and the settled-batch listing are inferred from that lifecycle
and the usual processor pattern (settled batches, then each batch's transactions): everything here
awaits the processor's official specification (ADR 0040), behind the same port and conformance tests
as Stripe and ATH Móvil.

Business refusals come with HTTP 200 and a `ResponseCode` other than "00". No idempotency key is
known, so a refund carries the hub's refund id as its `Reference_Code` and is looked up on the
original transaction before it is sent.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q

from integrations.connectors.registry import register
from payments.gateways.port import (
    Payment,
    PaymentDeclined,
    PaymentGateway,
    PaymentStatus,
    Payout,
    RefundResult,
    SettledKind,
    SettledTransaction,
    Settlement,
    message_with_code,
    money,
    retry_transient,
)
from qiiub.card_guard import mask_card_numbers
from qiiub.http import ConnectorError, VendorRejected, shared_session

CODE = "payments.dynamics"
PUERTO_RICO = ZoneInfo("America/Puerto_Rico")
APPROVED = "00"
DECLINES = {"05", "51", "54", "57", "61"}  # do not honour, funds, expired, not permitted, limit
KINDS = {"Venta": SettledKind.SALE, "Reembolso": SettledKind.REFUND, "Contracargo": SettledKind.CHARGEBACK,
         "Ajuste": SettledKind.ADJUSTMENT}


def message_hash(secret: str, site_id: str, session_id: str, *fields: str) -> str:
    digest = hashlib.sha256("".join((secret, site_id, session_id, *fields)).encode()).digest()
    return base64.b64encode(digest).decode()


def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _status(text: str, refunded: Decimal, captured: Decimal) -> PaymentStatus:
    """The processor's Spanish status in the port's terms."""
    lowered = text.lower()
    if lowered.startswith("anulada"):
        return PaymentStatus.VOIDED
    if lowered.startswith("declinada"):
        return PaymentStatus.DECLINED
    if "pendiente marcar" in lowered:
        return PaymentStatus.AUTHORIZED
    if refunded:
        return PaymentStatus.REFUNDED if refunded >= captured else PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.CAPTURED


@register(CODE)
class DynamicsPayments(PaymentGateway):
    takes_unreferenced = True

    def _post(self, operation: str, body: dict, *hashed: str, retry: bool = False) -> Any:
        credentials = self.credentials
        headers = {"SessionId": credentials.get("session_id", ""), "SiteId": credentials.get("site_id", ""),
                   "MessageHash": message_hash(credentials.get("secret", ""), credentials.get("site_id", ""),
                                               credentials.get("session_id", ""), *hashed)}
        url = f"{settings.DYNAMICS_PAYMENTS_API_URL}/{operation}"
        send = lambda: self.exchange(shared_session(), "POST", url, json=body, headers=headers)  # noqa: E731
        return self.retrying(send, safe=retry_transient) if retry else send()

    @property
    def _merchant_key(self) -> str:
        return self.credentials.get("merchant_key", "")

    def refused(self, body: Any) -> bool:
        return isinstance(body, dict) and str(body.get("ResponseCode", APPROVED)) != APPROVED

    def refusal(self, response, body: Any) -> ConnectorError:
        if isinstance(body, dict) and str(body.get("ResponseCode")) in DECLINES:
            return PaymentDeclined("vendor_refused_said", vendor=self.vendor, status=response.status_code,
                                   said=mask_card_numbers(self.said(body)))
        return super().refusal(response, body)

    def said(self, body: Any) -> str:
        if not isinstance(body, dict):
            return ""
        return message_with_code(str(body.get("Message") or ""), str(body.get("ResponseCode") or ""))

    def test_connection(self) -> None:
        if not settings.DYNAMICS_PAYMENTS_API_URL:
            raise VendorRejected("dynamics_unconfigured", vendor=self.vendor)
        today = datetime.now(PUERTO_RICO).date().isoformat()
        self._post("GetSettledBatches", {"MerchantKey": self._merchant_key, "FromDate": today, "ToDate": today},
                   self._merchant_key, today, today, retry=True)

    # --- the port ---

    @classmethod
    def tenders_taken(cls, *, unreferenced: bool = False) -> Q:
        taken = Q(processor_ref__regex=r"^[0-9]+$") & ~Q(card_brand="ath_movil")
        return taken | cls.unreferenced_tenders() if unreferenced else taken

    def authorize(self, *, amount: Decimal, payment_method: str, reference: str, idempotency_key: str) -> Payment:
        """Holds `amount` on a card token (`AccountToken`); the mark captures it."""
        answer = self._post("AuthorizeToken", {
            "MerchantKey": self._merchant_key, "AccountToken": payment_method, "Amount": _amount(amount),
            "Currency": "USD", "Tax": "0.00", "Invoice": reference[:40], "Transaction_Detail": "",
            "ReserveFunds": True}, self._merchant_key, payment_method, _amount(amount), "USD")
        return self._payment(answer, amount)

    def capture(self, *, processor_ref: str, amount: Decimal | None, idempotency_key: str,
                capture_token: str = "") -> Payment:
        body = {"IDTransaction": processor_ref, "MerchantKey": self._merchant_key}
        if amount is not None:
            body["Amount"] = _amount(amount)
        self._post("MarkByID", body, self._merchant_key, processor_ref)
        return self.status(processor_ref=processor_ref)

    def void(self, *, processor_ref: str, idempotency_key: str) -> Payment:
        self._post("VoidByID", {"IDTransaction": processor_ref, "MerchantKey": self._merchant_key},
                   self._merchant_key, processor_ref)
        return self.status(processor_ref=processor_ref)

    def refund(self, *, processor_ref: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        reference = idempotency_key[:40]
        original = self._transaction(processor_ref)
        for made in original.get("Refunds") or []:
            if made.get("Reference_Code") == reference:
                return RefundResult(refund_ref=str(made["IDTransaction"]), processor_ref=processor_ref,
                                    amount=money(made["Amount"]))
        answer = self._post("RefundByID", {
            "IDTransaction": processor_ref, "MerchantKey": self._merchant_key, "Amount": _amount(amount),
            "Reference_Code": reference}, self._merchant_key, processor_ref, _amount(amount))
        return RefundResult(refund_ref=str(answer["IDTransaction"]), processor_ref=processor_ref,
                            amount=money(answer.get("Amount") or amount))

    def status(self, *, processor_ref: str) -> Payment:
        return self._payment(self._transaction(processor_ref))

    def settled(self, *, day: date, zone: ZoneInfo) -> Settlement:
        """The batches the processor closed on `day` (its local date) and their transactions: a
        batch is the processor's settlement, and its deposit the payout."""
        settlement = Settlement(day=day)
        stamp = day.isoformat()
        batches = self._post("GetSettledBatches", {"MerchantKey": self._merchant_key, "FromDate": stamp,
                                                   "ToDate": stamp}, self._merchant_key, stamp, stamp, retry=True)
        for batch in batches if isinstance(batches, list) else batches.get("Batches") or []:
            code = str(batch["BatchCode"])
            rows = self._post("GetBatchTransactions", {"MerchantKey": self._merchant_key, "BatchCode": code},
                              self._merchant_key, code, retry=True)
            for row in rows if isinstance(rows, list) else rows.get("Transactions") or []:
                if (kind := KINDS.get(row.get("Type"))) is not None:
                    settlement.transactions.append(self._settled(row, kind, code, zone))
            deposit = batch.get("DepositDate") or str(batch.get("CloseDate", stamp))[:10]
            settlement.payouts.append(Payout(code, date.fromisoformat(deposit), money(batch.get("NetAmount") or 0)))
        return settlement

    # --- reading the processor's answers ---

    def _transaction(self, processor_ref: str) -> dict:
        return self._post("GetTransactionByID", {"IDTransaction": processor_ref}, processor_ref, retry=True)

    def _payment(self, answer: dict, amount: Decimal | None = None) -> Payment:
        # After a mark, Amount is what was captured; AuthorizedAmount what was held.
        authorized = money(answer.get("AuthorizedAmount") or answer.get("Amount") or amount or 0)
        marked = money(answer.get("Amount") or authorized)
        refunded = sum((money(made.get("Amount") or 0) for made in answer.get("Refunds") or []), Decimal("0.00"))
        status = _status(str(answer.get("Status") or ""), refunded, marked)
        captured = marked if status in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED,
                                        PaymentStatus.REFUNDED) else Decimal("0.00")
        account = str(answer.get("Account") or "")
        return Payment(processor_ref=str(answer["IDTransaction"]), status=status, amount=authorized,
                       captured=captured, refunded=refunded, auth_code=str(answer.get("AuthNumber") or ""),
                       card_brand=str(answer.get("CardBrand") or "").lower(),
                       card_last4=account[-4:] if account[-4:].isdigit() else "")

    def _settled(self, row: dict, kind: SettledKind, batch: str, zone: ZoneInfo) -> SettledTransaction:
        amount, fee = abs(money(row.get("Amount") or 0)), money(row.get("Fee") or 0)
        # A sale brings money in, a refund or a chargeback takes it back; an adjustment keeps its own sign.
        gross = {SettledKind.SALE: amount, SettledKind.ADJUSTMENT: money(row.get("Amount") or 0)}.get(kind, -amount)
        account = str(row.get("Account") or "")
        when = datetime.fromisoformat(str(row["TransactionDate"]))
        when = (when if when.tzinfo else when.replace(tzinfo=PUERTO_RICO)).astimezone(zone)
        return SettledTransaction(
            transaction_ref=str(row["IDTransaction"]), processor_ref=str(row["IDTransaction"]), kind=kind,
            gross=gross, fee=fee, net=money(row["Net"]) if row.get("Net") is not None else gross - fee,
            transacted_at=when, auth_code=str(row.get("AuthNumber") or ""),
            card_last4=account[-4:] if account[-4:].isdigit() else str(row.get("last4") or ""),
            card_brand=str(row.get("CardBrand") or "").lower(), terminal=str(row.get("TerminalId") or ""),
            payout_ref=batch, original_ref=str(row.get("OriginalIDTransaction") or ""))
