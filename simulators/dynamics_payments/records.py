"""What the Dynamics Payments fake keeps: sites, transactions, batches and merchants, the processor's Spanish
statuses (the fixtures' "Aprobada - Pendiente Marcar" and "Anulada - Pendiente Cierre"; the rest inferred in the
same words) and the card brands a token can stand for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from simulators.dynamics_payments.replies import ZERO

TERMINAL_ID = "00000001"

AUTHORIZED = "Aprobada - Pendiente Marcar"  # fixture
MARKED = "Marcada - Pendiente Cierre"
VOID_PENDING = "Anulada - Pendiente Cierre"  # fixture
VOIDED = "Anulada"
SETTLED = "Liquidada"
REFUND_PENDING = "Reembolso - Pendiente Cierre"
REFUND_SETTLED = "Reembolso Liquidado"
DECLINED = "Declinada"
SETTLED_STATUSES = {SETTLED, REFUND_SETTLED, "Contracargo", "Ajuste"}  # what a closed batch lists
# Card brand → (a plausible BIN for the masked account, the name the batch listing gives it).
BRANDS = {
    "visa": ("403178", "Visa"),  # the fixture's BIN
    "mastercard": ("545454", "MasterCard"),
    "amex": ("371449", "Amex"),
    "discover": ("601100", "Discover"),
    "ath": ("021502", "ATH"),
}


def next_weekday(day: date) -> date:
    """When a batch closed on `day` is deposited [inferred]: the next Monday–Friday."""
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@dataclass
class Site:
    site_id: str
    session_id: str
    secret: str
    merchant_key: str


@dataclass
class Transaction:
    id: str
    merchant_key: str
    kind: str  # Venta | Reembolso | Contracargo | Ajuste
    amount: Decimal  # authorized or refunded: positive, except an Ajuste, which keeps its sign
    status: str
    brand: str
    last4: str
    at: datetime  # Puerto Rico local time, naive
    batch: str = ""  # the batch it sits in; "" for a decline
    account_token: str = ""
    auth_number: str = ""
    audit_number: str = ""
    reference_code: str = ""
    invoice: str = ""
    detail: str = ""
    tax: Decimal = ZERO
    marked: Decimal | None = None  # the amount captured by the mark (or the planted sale's amount)
    fee: Decimal = ZERO
    original: str = ""  # a refund's sale
    refunds: list[str] = field(default_factory=list)  # a sale's refunds
    terminal: str = TERMINAL_ID

    @property
    def current_amount(self) -> Decimal:
        return self.marked if self.marked is not None else self.amount

    @property
    def signed_amount(self) -> Decimal:
        """How it moves the merchant's money in a settled batch: sales in, refunds and chargebacks out."""
        if self.kind == "Venta":
            return self.current_amount
        return self.amount if self.kind == "Ajuste" else -self.amount

    @property
    def account(self) -> str:
        bin_, _ = BRANDS[self.brand]
        return f"{bin_}{'X' * (5 if self.brand == 'amex' else 6)}{self.last4}"


@dataclass
class Batch:
    code: str
    transaction_ids: list[str] = field(default_factory=list)
    closed_at: datetime | None = None
    deposit_date: date | None = None
    count: int = 0
    gross: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.gross - self.fees


@dataclass
class Merchant:
    key: str
    open_batch: Batch
    closed: dict[str, Batch] = field(default_factory=dict)
    last_batch: int = 1
