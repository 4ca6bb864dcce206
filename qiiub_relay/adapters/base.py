"""The port every pharmacy system is reached through. An adapter turns the relay's words (a ready
prescription, an outbox message) into one pharmacy system's wire format and back; nothing else in
the relay knows a vendor. Rx30's own POS protocol is private: its adapters follow the public
PharmacyCOM contract and Rx30's documented behaviour until Rx30's partner spec replaces them here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

FLAG_TYPES = ("hipaa", "safety_cap", "counseling")


class PharmacyUnavailable(Exception):
    """The pharmacy system cannot be reached or answered with a transient error: try again later.
    `code` is a short machine word (`timeout`, `connection_refused`, `http_503`, …) for the
    heartbeat's last error; the message must never quote a prescription or a patient."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


class PharmacyRefused(Exception):
    """The pharmacy system will never accept this message as it is (e.g. an unknown Rx number):
    the relay acknowledges it to the hub as refused with `code`, and staff see it."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class Flag:
    type: str  # one of FLAG_TYPES
    required: bool
    message: str = ""


@dataclass(frozen=True)
class ReadyPrescription:
    """One fill waiting for pickup, as much as a register needs and no more (minimum necessary:
    no drug, NDC or address)."""

    rx_number: str
    fill_number: int
    amount_due: str  # a decimal string, e.g. "12.50"
    taxable: bool
    patient_name: str  # for the cashier to verify who is picking up
    flags: tuple[Flag, ...] = field(default_factory=tuple)
    ready_at: str | None = None  # ISO 8601 with offset, when the pharmacy system says

    @property
    def key(self) -> tuple[str, int]:
        return self.rx_number, self.fill_number


@dataclass(frozen=True)
class OutboundMessage:
    """A message of the hub's outbox (docs/pharmacy-relay.md): `kind` is pickup, sale or return."""

    id: str
    number: int
    kind: str
    body: dict


class PharmacySystem(Protocol):
    def ready_prescriptions(self) -> list[ReadyPrescription]:
        """Every prescription waiting for pickup now. Raises PharmacyUnavailable."""

    def deliver(self, message: OutboundMessage) -> None:
        """Hands one message to the pharmacy system; delivering the same message again must change
        nothing there. Raises PharmacyUnavailable or PharmacyRefused."""

    def check(self) -> None:
        """Returns if the pharmacy system answers; raises PharmacyUnavailable otherwise."""
