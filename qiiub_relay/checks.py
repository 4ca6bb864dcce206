"""What the hub takes of what the relay sends it (docs/pharmacy-relay.md), checked at the store: a fill
the hub would refuse would otherwise hold up the whole push it travels in, and an error code the hub
would refuse would lose the heartbeat that reports it."""

from __future__ import annotations

import re

from qiiub_relay.adapters.base import FLAG_TYPES, Flag, ReadyPrescription

RX_NUMBER = re.compile(r"[0-9A-Za-z-]{1,20}")
AMOUNT_DUE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")  # never negative, as the hub says
TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                       r"(Z|[+-][0-9]{2}:[0-9]{2})")
MAX_FILL_NUMBER = 99
MAX_PATIENT_NAME = 100
MAX_FLAGS = 10
MAX_FLAG_MESSAGE = 200
ERROR_CODE_UNFIT = re.compile(r"[^a-z0-9_.:-]")
MAX_ERROR_CODE = 60


def error_code(code: object) -> str:
    """A code the hub takes in a heartbeat or an ack (lower case, `a-z0-9_.:-`, 60 at most), whatever
    an adapter raised with."""
    return ERROR_CODE_UNFIT.sub("_", str(code).lower())[:MAX_ERROR_CODE] or "unknown"


def _text(value: object, max_length: int, *, min_length: int = 0) -> bool:
    return isinstance(value, str) and min_length <= len(value) <= max_length and "\x00" not in value


def _well_formed_flag(flag: object) -> bool:
    return (isinstance(flag, Flag) and flag.type in FLAG_TYPES and isinstance(flag.required, bool)
            and _text(flag.message, MAX_FLAG_MESSAGE))


def well_formed(prescription: ReadyPrescription) -> bool:
    """Whether the hub would take this fill as a ready change."""
    fill_number = prescription.fill_number
    return bool(
        isinstance(prescription.rx_number, str) and RX_NUMBER.fullmatch(prescription.rx_number)
        and isinstance(fill_number, int) and not isinstance(fill_number, bool) and 0 <= fill_number <= MAX_FILL_NUMBER
        and isinstance(prescription.amount_due, str) and AMOUNT_DUE.fullmatch(prescription.amount_due)
        and isinstance(prescription.taxable, bool)
        and _text(prescription.patient_name, MAX_PATIENT_NAME, min_length=1)
        and (prescription.ready_at is None
             or isinstance(prescription.ready_at, str) and TIMESTAMP.fullmatch(prescription.ready_at))
        and isinstance(prescription.flags, tuple | list) and len(prescription.flags) <= MAX_FLAGS
        and all(_well_formed_flag(flag) for flag in prescription.flags)
    )


def key_or_none(prescription: ReadyPrescription) -> tuple[str, int] | None:
    rx_number, fill_number = prescription.rx_number, prescription.fill_number
    return (rx_number, fill_number) if isinstance(rx_number, str) and isinstance(fill_number, int) else None
