"""Everything the ATH Móvil fake remembers: businesses (a publicToken, the privateToken bound to it on first use),
button payments with their status, the completed-transaction ledger (button payments, app payments, refunds) the
report and refunds read, and the steering a test set; what `POST /_control` changes and what `GET /_state` shows."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from simulators.athmovil.controls import parse_control
from simulators.athmovil.replies import cents
from simulators.athmovil.tokens import TokenSigner
from simulators.base import mask
from simulators.faults import Faults

try:
    from zoneinfo import ZoneInfo

    PUERTO_RICO = ZoneInfo("America/Puerto_Rico")
except (ImportError, KeyError):  # no tz database: Puerto Rico keeps UTC-4 all year (no daylight saving)
    PUERTO_RICO = timezone(timedelta(hours=-4), "AST")

DEFAULT_FEE_PERCENT = Decimal("2.5")
RECENT_REQUESTS = 50
ZERO = Decimal("0.00")


def _hashed(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ReferenceNumbers:
    """`402-` and 8 digits (11 in all), so that a reference never reads as a card number (13–19 digits); unique for
    the server's life, across resets, like the processor's own."""

    def __init__(self):
        self._prefix = f"{secrets.randbelow(90) + 10}"
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return f"402-{self._prefix}{next(self._counter):06d}"


@dataclass
class Business:
    public_token: str
    private_digest: str | None = None  # bound on the first call that carries a privateToken
    last_daily_id: dict[date, int] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("payments", "completed", "refunds"), 0))

    def next_daily_id(self, day: date) -> str:
        """ATH's `dailyTransactionId`: "0001", "0002"… per business and Puerto Rico day."""
        self.last_daily_id[day] = self.last_daily_id.get(day, 0) + 1
        return f"{self.last_daily_id[day]:04d}"

    @property
    def customer_id(self) -> str:
        return _hashed(self.public_token)[:32]  # stands in for the README's `businessCustomerId`


@dataclass
class Entry:
    """A completed transaction in a business's ATH ledger: ECOMMERCE (the button), PAYMENT (the app) or REFUND."""

    kind: str
    reference: str
    business: Business
    daily_id: str
    at: datetime  # Puerto Rico local time, naive
    total: Decimal
    tax: Decimal = ZERO
    subtotal: Decimal = ZERO
    fee: Decimal = ZERO
    refunded: Decimal = ZERO
    metadata1: str = ""
    metadata2: str = ""
    ecommerce_id: str = ""
    original_reference: str = ""
    message: str = ""
    items: list[dict] = field(default_factory=list)
    phone: str = ""

    @property
    def net(self) -> Decimal:
        return self.total - self.fee


@dataclass
class Payment:
    """A button payment: OPEN, CONFIRM (the customer accepted in the app), COMPLETED or CANCEL."""

    ecommerce_id: str
    business: Business
    total: Decimal
    tax: Decimal
    subtotal: Decimal
    timeout_s: int
    metadata1: str
    metadata2: str
    items: list[dict]
    phone: str
    created_at: float  # the fake's clock (epoch seconds)
    status: str = "OPEN"
    expired: bool = False
    entry: Entry | None = None

    @property
    def expires_at(self) -> float:
        return self.created_at + self.timeout_s


class AthMovilState:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults = Faults((429, 500, 502, 503))
        self.references = ReferenceNumbers()  # outlive resets: a reference is never handed out twice
        self.signer = TokenSigner()
        self.reset()

    def reset(self) -> None:
        self.businesses: dict[str, Business] = {}
        self.revoked: set[str] = set()  # public tokens a test revoked
        self.payments: dict[str, Payment] = {}
        self.ledger: dict[str, Entry] = {}  # referenceNumber → entry
        self.auto_confirm = True
        self.fee_percent = DEFAULT_FEE_PERCENT
        self.clock_offset_s = 0.0
        self.card_number_next: str | None = None
        self.faults.scheduled = None
        self.requests = 0
        self.recent_requests: deque[dict] = deque(maxlen=RECENT_REQUESTS)
        self.refund_log: list[dict] = []  # refunds made through the API, with their messages

    # --- clock and money ---

    def now(self) -> float:
        return time.time() + self.clock_offset_s

    @staticmethod
    def local(epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, PUERTO_RICO)

    def local_now(self) -> datetime:
        return self.local(self.now()).replace(tzinfo=None, microsecond=0)

    def fee(self, total: Decimal) -> Decimal:
        return cents(total * self.fee_percent / 100)

    # --- businesses, payments, ledger (call with the lock held) ---

    def business(self, public_token: str) -> Business:
        if public_token not in self.businesses:
            self.businesses[public_token] = Business(public_token)
        return self.businesses[public_token]

    def bind_private_token(self, business: Business, private_token: str) -> bool:
        """Binds the pair on first use; False when the business is already bound to another privateToken."""
        digest = _hashed(private_token)
        if business.private_digest is None:
            business.private_digest = digest
        return business.private_digest == digest

    def refresh(self, payment: Payment) -> Payment:
        """Expires lazily: a payment not completed within its timeout is CANCEL from then on."""
        if payment.status in ("OPEN", "CONFIRM") and self.now() >= payment.expires_at:
            payment.status, payment.expired = "CANCEL", True
        return payment

    def record(self, entry: Entry) -> Entry:
        self.ledger[entry.reference] = entry
        entry.business.entries.append(entry)
        return entry

    def complete(self, payment: Payment) -> Entry:
        at = self.local_now()
        business = payment.business
        entry = Entry(
            "ECOMMERCE",
            self.references.next(),
            business,
            business.next_daily_id(at.date()),
            at,
            payment.total,
            payment.tax,
            payment.subtotal,
            self.fee(payment.total),
            ZERO,
            payment.metadata1,
            payment.metadata2,
            payment.ecommerce_id,
            items=payment.items,
            phone=payment.phone,
        )
        payment.status, payment.entry = "COMPLETED", self.record(entry)
        business.counts["completed"] += 1
        return entry

    def refund(self, original: Entry, amount: Decimal, message: str) -> Entry:
        at = self.local_now()
        business = original.business
        entry = Entry(
            "REFUND",
            self.references.next(),
            business,
            business.next_daily_id(at.date()),
            at,
            amount,
            subtotal=amount,
            original_reference=original.reference,
            message=message,
            phone=original.phone,
        )
        original.refunded += amount
        business.counts["refunds"] += 1
        self.refund_log.append(
            {
                "referenceNumber": entry.reference,
                "originalReferenceNumber": original.reference,
                "amount": f"{amount:.2f}",
                "message": message,
                "business": mask(business.public_token),
            }
        )
        return self.record(entry)

    # --- /_control and /_state ---

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        plan = parse_control(self, body)
        if body.get("reset"):
            self.reset()
        if plan.revoked is not None:
            self.revoked = plan.revoked
        for public_token, private_token in plan.accounts:
            self.business(public_token).private_digest = _hashed(private_token)
        if plan.auto_confirm is not None:
            self.auto_confirm = plan.auto_confirm
        if plan.fee_percent is not None:
            self.fee_percent = plan.fee_percent
        if plan.card_number is not None:
            self.card_number_next = plan.card_number
        self.clock_offset_s += plan.advance_s
        if "fail" in body:
            self.faults.scheduled = plan.fail
        for ecommerce_id in plan.confirm:
            self.payments[ecommerce_id].status = "CONFIRM"
        for planted in plan.transactions:
            self._plant(planted)

    def _plant(self, planted: dict) -> None:
        business = self.business(planted["public_token"])
        at: datetime = planted["at"]
        entry = Entry(
            planted["kind"],
            planted["reference"] or self.references.next(),
            business,
            business.next_daily_id(at.date()),
            at,
            planted["total"],
            planted["tax"],
            planted["subtotal"],
            planted["fee"]
            if planted["fee"] is not None
            else (ZERO if planted["kind"] == "REFUND" else self.fee(planted["total"])),
            metadata1=planted["metadata1"],
            metadata2=planted["metadata2"],
            ecommerce_id=planted["ecommerce_id"],
            original_reference=planted["original_reference"],
            message=planted["message"],
        )
        self.record(entry)
        original = self.ledger.get(entry.original_reference) if entry.kind == "REFUND" else None
        if original is not None and original.business is business:  # a refund of a listed original counts on it
            original.refunded += entry.total
        if entry.kind == "ECOMMERCE":  # findPayment knows a planted button payment too
            payment = Payment(
                entry.ecommerce_id,
                business,
                entry.total,
                entry.tax,
                entry.subtotal,
                600,
                entry.metadata1,
                entry.metadata2,
                [],
                "",
                self.now(),
                "COMPLETED",
                entry=entry,
            )
            self.payments[entry.ecommerce_id] = payment

    def snapshot(self) -> dict:
        """What `/_state` shows: counts per business (tokens masked), refunds with their messages, recent calls."""
        statuses: dict[str, int] = {}
        for payment in self.payments.values():
            self.refresh(payment)
            statuses[payment.status] = statuses.get(payment.status, 0) + 1
        return {
            "businesses": {
                mask(token): {
                    **business.counts,
                    "ledger_entries": len(business.entries),
                    "private_token_bound": business.private_digest is not None,
                }
                for token, business in self.businesses.items()
            },
            "payments_by_status": statuses,
            "refunds": list(self.refund_log),
            "auto_confirm": self.auto_confirm,
            "fee_percent": str(self.fee_percent),
            "clock_offset_s": self.clock_offset_s,
            "requests": self.requests,
            "recent_requests": list(self.recent_requests),
        }
