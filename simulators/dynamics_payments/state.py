"""Everything the Dynamics Payments fake remembers: sites (SiteId, SessionId, secret, MerchantKey), card tokens,
each merchant's open batch and closed batches, and every transaction by IDTransaction; the batch close; what
`POST /_control` changes and what `GET /_state` shows."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import deque
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from simulators.base import mask
from simulators.dynamics_payments.controls import parse_control
from simulators.dynamics_payments.records import (
    AUTHORIZED,
    MARKED,
    REFUND_PENDING,
    REFUND_SETTLED,
    SETTLED,
    SETTLED_STATUSES,
    VOID_PENDING,
    VOIDED,
    Batch,
    Merchant,
    Site,
    Transaction,
    next_weekday,
)
from simulators.dynamics_payments.replies import ZERO, cents
from simulators.faults import Faults

try:
    from zoneinfo import ZoneInfo

    PUERTO_RICO = ZoneInfo("America/Puerto_Rico")
except (ImportError, KeyError):  # no tz database: Puerto Rico keeps UTC-4 all year (no daylight saving)
    PUERTO_RICO = timezone(timedelta(hours=-4), "AST")

DEMO_SITE = {"site_id": "QIIUB-DEMO", "session_id": "demo-session", "secret": "demo-secret", "merchant_key": "MK-DEMO"}
DEFAULT_FEE_PERCENT, DEFAULT_FEE_FIXED = Decimal("2.75"), Decimal("0.10")
RECENT_REQUESTS = 50


class DynamicsState:
    def __init__(self):
        self.lock = threading.Lock()
        self.faults = Faults((429, 500, 502, 503))
        # Numbers outlive resets: an IDTransaction or Reference_Code is never handed out twice by one server.
        self._ids = itertools.count(secrets.randbelow(9000) * 10 + 1000)
        self._references = itertools.count(2_600_000 + secrets.randbelow(90_000))
        self.reset()

    def reset(self) -> None:
        self.sites: dict[str, Site] = {DEMO_SITE["site_id"]: Site(**DEMO_SITE)}
        self.tokens: dict[str, tuple[str, str, bool]] = {}  # control-added AccountToken → (brand, last4, declined)
        self.merchants: dict[str, Merchant] = {}
        self.transactions: dict[str, Transaction] = {}
        self.fee_percent, self.fee_fixed = DEFAULT_FEE_PERCENT, DEFAULT_FEE_FIXED
        self.card_number_next: str | None = None
        self.faults.scheduled = None
        self.requests = 0
        self.recent_requests: deque[dict] = deque(maxlen=RECENT_REQUESTS)

    # --- numbers, clock, fees ---

    def new_id(self) -> str:
        return str(next(self._ids))

    def new_reference(self) -> str:
        return str(next(self._references))

    @staticmethod
    def local_now() -> datetime:
        return datetime.now(PUERTO_RICO).replace(tzinfo=None, microsecond=0)

    def sale_fee(self, amount: Decimal) -> Decimal:
        return cents(amount * self.fee_percent / 100 + self.fee_fixed)

    # --- merchants and batches (call with the lock held) ---

    def merchant(self, key: str) -> Merchant:
        if key not in self.merchants:
            self.merchants[key] = Merchant(key, Batch("001"))
        return self.merchants[key]

    def new_batch_code(self, merchant: Merchant) -> str:
        merchant.last_batch += 1
        return f"{merchant.last_batch:03d}"

    def add(self, transaction: Transaction) -> Transaction:
        self.transactions[transaction.id] = transaction
        return transaction

    def close_batch(self, merchant: Merchant, at: datetime) -> Batch | None:
        """Settles the open batch: marked sales → Liquidada, refunds → Reembolso Liquidado, voids → Anulada; sales
        never marked move to the next batch. None (nothing closed) when the batch holds nothing to settle."""
        batch = merchant.open_batch
        moving = {AUTHORIZED: None, MARKED: SETTLED, REFUND_PENDING: REFUND_SETTLED, VOID_PENDING: VOIDED}
        held = [self.transactions[id_] for id_ in batch.transaction_ids]
        if all(transaction.status == AUTHORIZED for transaction in held):
            return None
        carried = Batch(self.new_batch_code(merchant))
        for transaction in held:
            settled_as = moving.get(transaction.status)
            if settled_as is None:
                transaction.batch = carried.code
                carried.transaction_ids.append(transaction.id)
                continue
            transaction.status = settled_as
            if settled_as == SETTLED:
                transaction.fee = self.sale_fee(transaction.current_amount)
        batch.transaction_ids = [id_ for id_ in batch.transaction_ids if self.transactions[id_].batch == batch.code]
        self.seal(merchant, batch, at, None)
        merchant.open_batch = carried
        return batch

    def seal(self, merchant: Merchant, batch: Batch, at: datetime, deposit: date | None) -> None:
        """Records a batch as closed at `at`, with its totals."""
        settled = [self.transactions[id_] for id_ in batch.transaction_ids]
        settled = [transaction for transaction in settled if transaction.status in SETTLED_STATUSES]
        batch.closed_at, batch.deposit_date = at, deposit or next_weekday(at.date())
        batch.count = len(settled)
        batch.gross = sum((transaction.signed_amount for transaction in settled), ZERO)
        batch.fees = sum((transaction.fee for transaction in settled), ZERO)
        merchant.closed[batch.code] = batch

    # --- /_control and /_state ---

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        plan = parse_control(self, body)
        if body.get("reset"):
            self.reset()
        for site in plan.sites:
            self.sites[site.site_id] = site
        self.tokens.update(plan.tokens)
        if plan.fee_percent is not None:
            self.fee_percent = plan.fee_percent
        if plan.fee_fixed is not None:
            self.fee_fixed = plan.fee_fixed
        if plan.card_number is not None:
            self.card_number_next = plan.card_number
        if "fail" in body:
            self.faults.scheduled = plan.fail
        for merchant_key, close_date, deposit, items in plan.settled_batches:
            merchant = self.merchant(merchant_key)
            batch = Batch(self.new_batch_code(merchant))
            for item in items:
                planted_id, fee = item.pop("id"), item.pop("fee")
                transaction = Transaction(planted_id or self.new_id(), merchant_key, **item, batch=batch.code)
                transaction.reference_code = transaction.reference_code or self.new_reference()
                transaction.auth_number = transaction.auth_number or f"{secrets.randbelow(10**6):06d}"
                transaction.fee = self.sale_fee(transaction.amount) if fee is None else fee
                batch.transaction_ids.append(self.add(transaction).id)
                sale = self.transactions.get(transaction.original) if transaction.kind == "Reembolso" else None
                if sale is not None and sale.merchant_key == merchant_key and sale.kind == "Venta":
                    sale.refunds.append(transaction.id)  # GetTransactionByID lists it on its sale
            self.seal(merchant, batch, close_date, deposit)
        if plan.close_batch is not None:
            merchant_key, at = plan.close_batch
            self.close_batch(self.merchant(merchant_key), at or self.local_now())

    def snapshot(self) -> dict:
        """What `/_state` shows: sites and merchants with their secrets masked, counts, recent calls."""
        by_merchant: dict[str, dict[str, int]] = {}
        for transaction in self.transactions.values():
            counts = by_merchant.setdefault(transaction.merchant_key, {})
            counts[transaction.status] = counts.get(transaction.status, 0) + 1
        return {
            "sites": [
                {"site_id": site.site_id, "session_id": mask(site.session_id), "merchant_key": mask(site.merchant_key)}
                for site in self.sites.values()
            ],
            "merchants": {
                mask(key): {
                    "open_batch": merchant.open_batch.code,
                    "open_batch_transactions": len(merchant.open_batch.transaction_ids),
                    "closed_batches": len(merchant.closed),
                    "transactions_by_status": by_merchant.get(key, {}),
                }
                for key, merchant in self.merchants.items()
            },
            "fee_percent": str(self.fee_percent),
            "fee_fixed": str(self.fee_fixed),
            "requests": self.requests,
            "recent_requests": list(self.recent_requests),
        }
