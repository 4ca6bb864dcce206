"""What both Rx30-mode adapters (the SOAP service and the drop folder) write the same way: PharmacyCOM's flag and
payment codes, its one-string RxNumber, and amounts."""

from __future__ import annotations

from decimal import Decimal

from qiiub_relay.adapters.base import PharmacyRefused

FLAG_CODES = {"hipaa": 1, "safety_cap": 2, "counseling": 3}  # PharmacyCOM RxItemFlag Type
FLAG_NAMES = {code: name for name, code in FLAG_CODES.items()}
PAYMENT_TYPES = {"cash": 1, "charge_account": 2, "card": 3, "check": 4}  # the hub's tender kinds → RxPayment Type


def wire_rx_number(rx_number: str, fill_number: int) -> str:
    """PharmacyCOM's RxNumber is one string and has no fill number: Rx30 mode writes `<rx>-<fill>` (our assumption,
    to confirm with Rx30's partner spec)."""
    return f"{rx_number}-{fill_number}"


def split_rx_number(wire: str) -> tuple[str, int] | None:
    rx_number, _, fill = wire.rpartition("-")
    return (rx_number, int(fill)) if rx_number and fill.isdigit() else None


def payment_type(kind: str) -> int:
    if kind not in PAYMENT_TYPES:
        raise PharmacyRefused("payment_kind_unknown", "Rx30 mode has no payment type for this tender kind")
    return PAYMENT_TYPES[kind]


def money(amount: Decimal) -> str:
    return f"{amount:.2f}"
