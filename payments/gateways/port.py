"""The payment gateway port (DESIGN.md D17): what the hub asks of a processor, in its own terms, and
what every processor adapter shares.

An adapter is a connector of the Payments category, registered like any other and acting for one
merchant integration with credentials from the vault. It authorizes, captures, voids, refunds,
reads a payment's status and lists what the processor settled on a business date. The hub never
takes card entry: P2PE terminals talk to processors themselves, and the hub sees only references,
auth codes, last 4, brand and amounts.

Every processor answer is screened by the one card guard before anything of it is read, stored or
logged: an answer carrying a full card number is refused whole (`CardDataInAnswer`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import requests
from django.db.models import Q

from integrations.connectors.base import Connector, SyncResult
from payments.store.models import SettledKind
from qiiub.card_guard import find_card_data, json_loads_checkable, mask_card_numbers
from qiiub.http import (
    AuthExpired,
    ConnectorError,
    RateLimited,
    VendorRejected,
    VendorUnavailable,
    error_for_status,
)

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")
# Retries of one call that a processor says is safe to repeat: short, inside the caller's request.
RETRY_ATTEMPTS = 3
RETRY_BASE_S, RETRY_CAP_S = 0.5, 5.0
MAX_RETRY_AFTER_S = 60  # a longer wait is the caller's to schedule (RateLimited), not a sleep here


class PaymentStatus(StrEnum):
    PENDING = "pending"  # created, the customer or the processor has not finished it
    AUTHORIZED = "authorized"  # funds held, not captured
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"
    DECLINED = "declined"


@dataclass(frozen=True)
class Payment:
    """A payment as the processor holds it now."""

    processor_ref: str
    status: PaymentStatus
    amount: Decimal  # authorized
    captured: Decimal = Decimal("0.00")
    refunded: Decimal = Decimal("0.00")
    auth_code: str = ""
    card_brand: str = ""
    card_last4: str = ""
    # What the processor needs to finish a payment the customer still has to confirm (ATH Móvil's
    # auth token): handed back to `capture`, never stored.
    capture_token: str = field(default="", repr=False)

    @property
    def refundable(self) -> Decimal:
        return self.captured - self.refunded


class RefundState(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"  # accepted, not completed yet (Stripe's pending, requires_action)
    FAILED = "failed"


@dataclass(frozen=True)
class RefundResult:
    refund_ref: str
    processor_ref: str
    amount: Decimal
    state: RefundState = RefundState.SUCCEEDED


@dataclass(frozen=True)
class SettledTransaction:
    """One row of what the processor settled: amounts signed as they move the merchant's money
    (a refund or a chargeback is negative), the fee the processor kept, and the net."""

    transaction_ref: str  # this row's own id at the processor (unique per processor account)
    # A sale: the payment a POS tender names (Stripe pi_, ATH referenceNumber, Dynamics IDTransaction);
    # a refund or a chargeback: its own id (re_, dp_, …), with the payment it reverses as `original_ref`.
    processor_ref: str
    kind: SettledKind
    gross: Decimal
    fee: Decimal
    net: Decimal
    transacted_at: datetime  # aware
    auth_code: str = ""
    card_last4: str = ""
    card_brand: str = ""
    terminal: str = ""
    payout_ref: str = ""
    original_ref: str = ""


@dataclass(frozen=True)
class Payout:
    payout_ref: str
    arrival_date: date
    amount: Decimal


@dataclass
class Settlement:
    """What the processor settled for one business date (midnight to midnight in the merchant's zone)."""

    day: date
    transactions: list[SettledTransaction] = field(default_factory=list)
    payouts: list[Payout] = field(default_factory=list)


class CardDataInAnswer(ConnectorError):
    """A processor answer carried what looks like a full card number: refused whole, nothing kept."""

    code = "card_data_in_answer"


class UnknownOutcome(VendorUnavailable):
    """The processor may or may not have done it (it kept a failure against the idempotency key):
    never repeated blindly; the payment's status read later says what happened."""

    code = "outcome_unknown"


class PaymentDeclined(VendorRejected):
    code = "payment_declined"


class GatewayRefused(VendorRejected):
    """The processor refused the operation (amount above what is left, wrong state…), in its words."""

    code = "gateway_refused"


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def from_cents(value: int) -> Decimal:
    return (Decimal(value) / 100).quantize(CENT)


def money(value: Any) -> Decimal:
    """A processor's decimal amount (a number or text) to the cent."""
    return Decimal(str(value)).quantize(CENT)


class PaymentGateway(Connector):
    """The port. Adapters implement the operations; `answer` screens and decodes their responses."""

    capabilities = frozenset({"test_connection", "scheduled_batch"})
    # Whether the processor honours an idempotency key: without one, a refund whose outcome is
    # unknown (a timeout) is looked up by its reference before it is ever sent again.
    idempotent_writes: ClassVar[bool] = False

    # Whether the card tenders with no processor reference (stand-in approvals) may be this
    # processor's: card processors, not ATH Móvil (`payments.processors.takes_unreferenced`).
    takes_unreferenced: ClassVar[bool] = False

    @classmethod
    def tenders_taken(cls, *, unreferenced: bool = False) -> Q:
        """The POS card tenders paid through this processor, as a filter on tenders: the one rule
        reconciliation selects by (in SQL) and a refund finds its processor by. `unreferenced`:
        the tenders with no reference are this processor's too."""
        return Q(pk__in=[])

    @classmethod
    def unreferenced_tenders(cls) -> Q:
        return Q(processor_ref="") & ~Q(card_brand="ath_movil")

    def authorize(self, *, amount: Decimal, payment_method: str, reference: str, idempotency_key: str) -> Payment:
        """Hold `amount` on a tokenized payment method (never a card number)."""
        raise NotImplementedError

    def capture(self, *, processor_ref: str, amount: Decimal | None, idempotency_key: str,
                capture_token: str = "") -> Payment:
        raise NotImplementedError

    def void(self, *, processor_ref: str, idempotency_key: str) -> Payment:
        raise NotImplementedError

    def refund(self, *, processor_ref: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        """Refund `amount` of a captured payment once per `idempotency_key`, however often asked."""
        raise NotImplementedError

    def status(self, *, processor_ref: str) -> Payment:
        raise NotImplementedError

    def settled(self, *, day: date, zone: ZoneInfo) -> Settlement:
        raise NotImplementedError

    def exchange(self, session: requests.Session, method: str, url: str, **kwargs) -> Any:
        """One call to the processor: transport failures and refusals become typed errors, and the
        answer (a refusal too: its words are stored) is screened and decoded."""
        response = self._send(session, method, url, **kwargs)
        if error := error_for_status(response, who=self.vendor):
            raise self.transient(response, error)
        body = self.answer(response)
        if response.status_code in (401, 403):
            raise AuthExpired("credentials_refused", vendor=self.vendor)
        if response.status_code >= 400 or self.refused(body):
            raise self.refusal(response, body)
        return body

    def transient(self, response: requests.Response, error: ConnectorError) -> ConnectorError:
        """A 429 or 5xx as this processor means it (Stripe stores some 500s against the key)."""
        return error

    def refused(self, body: Any) -> bool:
        """Whether a 2xx answer is still a refusal (processors that answer every error with 200)."""
        return False

    def refusal(self, response: requests.Response, body: Any) -> ConnectorError:
        said = mask_card_numbers(self.said(body))
        return GatewayRefused("vendor_refused_said" if said else "request_refused", vendor=self.vendor,
                              status=response.status_code, said=said)

    def said(self, body: Any) -> str:
        """The processor's own words in a refusal (empty if none)."""
        return ""

    def sync(self, *, since: datetime | None) -> SyncResult:
        """The scheduled batch: the nightly settlement reconciliation."""
        from payments.settlement import settlement_sync

        return settlement_sync(integration=self.integration, since=since)

    def answer(self, response: requests.Response) -> Any:
        """The decoded body of a processor answer, refused whole when any part of it looks like a
        card number: nothing of it is stored, logged or shown (D9)."""
        try:
            body = json_loads_checkable(response.content)
        except ValueError:
            raise VendorRejected("request_refused", vendor=self.vendor, status=response.status_code) from None
        if (where := find_card_data(body)) is not None:
            logger.warning("payments.card_data_in_answer", extra={"vendor": self.vendor, "where": where})
            raise CardDataInAnswer("card_data_in_answer", vendor=self.vendor)
        return body

    def retrying(self, call: Callable[[], requests.Response], *, safe: Callable[[ConnectorError], bool]) -> requests.Response:
        """`call` again after a failure `safe` says may be repeated (the same request, so the
        processor's idempotency key keeps it one operation), with jittered backoff; a wait longer
        than a minute is left to the caller."""
        for attempt in range(RETRY_ATTEMPTS):
            try:
                return call()
            except ConnectorError as error:
                if attempt == RETRY_ATTEMPTS - 1 or not safe(error):
                    raise
                wait = getattr(error, "retry_after", None)
                if wait is not None and wait > MAX_RETRY_AFTER_S:
                    raise
                backoff = min(RETRY_CAP_S, RETRY_BASE_S * 2**attempt)
                time.sleep(wait if wait is not None else random.uniform(backoff / 2, backoff))
        raise AssertionError("unreachable")


def message_with_code(message: str, code: str) -> str:
    """A processor's refusal in its words, with its code: "Payment not found (BTRA_0031)"."""
    return f"{message} ({code})" if code and message else message or code


def retry_transient(error: ConnectorError) -> bool:
    """Rate limits and a processor that is down or did not answer: worth the same request again."""
    return isinstance(error, RateLimited | VendorUnavailable) and not isinstance(error, UnknownOutcome)
