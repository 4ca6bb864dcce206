"""The fake's side of file-drop mode ("Mode 2"): it exports `ready.txt` and reads the relay's confirmation files
from `outbound/`. The layouts are the package docstring's; this reader and writer are written apart from the relay's
(qiiub_relay/adapters/rx30_file.py) on purpose, so that the tests catch either side straying from the document.
Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import unquote

READY_FORMAT, CONFIRM_FORMAT, VERSION = "QIIUB-RX30-READY", "QIIUB-RX30-CONFIRM", "1"
FLAG_CODES = {"hipaa": "1", "safety_cap": "2", "counseling": "3"}
FLAG_NAMES = {code: name for name, code in FLAG_CODES.items()}
CONFIRMATION_NAME = re.compile(r"\d{1,18}\.txt")
FIELDS = {"P": 8, "K": 3, "S": 3, "X": 5, "L": 9, "T": 4, "Y": 3}  # confirmation record → its field count
MAX_FILE_BYTES = 5 * 1024 * 1024


def escape(value: str) -> str:
    return value.replace("%", "%25").replace("|", "%7C").replace("\r", "%0D").replace("\n", "%0A")


def yes_no(value: bool) -> str:
    return "Y" if value else "N"


class Unreadable(Exception):
    """A confirmation file that does not follow the layout: moved to outbound/rejected/."""


@dataclass
class Confirmation:
    """One confirmation file, read: what SaveRxInvoice or SaveInvoice would have carried."""

    kind: str  # PICKUP, RETURN or SALE
    number: int
    at: str
    items: list[tuple[tuple[str, int], Decimal, bool]] = field(default_factory=list)  # (key, amount, returned)
    flag_results: list[tuple[str, bool]] = field(default_factory=list)
    signature_bytes: int | None = None
    lines: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    totals: tuple[Decimal, Decimal, Decimal] | None = None  # subtotal, tax, total


class DropFolder:
    def __init__(self, folder: Path):
        self.folder = folder
        self.outbound = folder / "outbound"
        for directory in (self.outbound / "done", self.outbound / "rejected"):
            directory.mkdir(parents=True, exist_ok=True)

    def write_ready(self, prescriptions) -> None:
        """ready.txt, replaced whole (temporary file + rename): a reader never sees half of it."""
        lines = [f"{READY_FORMAT}|{VERSION}|{len(prescriptions)}"]
        for rx in prescriptions:
            lines.append("|".join(("R", escape(rx.rx_number), str(rx.fill_number), f"{rx.amount_due:.2f}",
                                   yes_no(rx.taxable), escape(rx.patient_name), escape(rx.ready_at))))
            lines.extend(f"F|{FLAG_CODES[flag.type]}|{yes_no(flag.required)}|{escape(flag.message)}"
                         for flag in rx.flags)
        temporary = self.folder / ".ready.txt.tmp"
        temporary.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
        os.replace(temporary, self.folder / "ready.txt")

    def waiting(self) -> list[Path]:
        """The confirmation files the relay has finished writing (its temporary files start with a dot)."""
        return sorted(path for path in self.outbound.iterdir() if CONFIRMATION_NAME.fullmatch(path.name))

    def settle(self, path: Path, *, accepted: bool) -> None:
        os.replace(path, self.outbound / ("done" if accepted else "rejected") / path.name)

    def read(self, path: Path) -> Confirmation:
        raw = path.read_bytes()
        if len(raw) > MAX_FILE_BYTES:
            raise Unreadable("too large")
        try:
            lines = raw.decode("utf-8").splitlines()
        except UnicodeDecodeError:
            raise Unreadable("not UTF-8") from None
        if not lines:
            raise Unreadable("empty")
        header = lines[0].split("|")
        if len(header) != 5 or header[:2] != [CONFIRM_FORMAT, VERSION] or header[2] not in ("PICKUP", "RETURN", "SALE"):
            raise Unreadable("header")
        if not header[3].isdigit() or int(header[3]) != int(path.stem):
            raise Unreadable("number does not match the file name")
        confirmation = Confirmation(header[2], int(header[3]), unquote(header[4]))
        for line in lines[1:]:
            fields = line.split("|")
            if fields[0] not in FIELDS:
                continue  # a record a later version adds
            if len(fields) != FIELDS[fields[0]]:
                raise Unreadable(f"{fields[0]} record")
            _record(confirmation, fields[0], [unquote(value) for value in fields[1:]])
        if confirmation.kind != "SALE" and len(confirmation.items) != 1:
            raise Unreadable("a pickup or return names exactly one prescription")
        if confirmation.kind == "SALE" and (not confirmation.lines or confirmation.totals is None):
            raise Unreadable("a sale has lines and totals")
        return confirmation


def _amount(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise Unreadable("amount") from None


def _key(rx_number: str, fill_number: str) -> tuple[str, int]:
    if not rx_number or not fill_number.isdigit():
        raise Unreadable("prescription")
    return rx_number, int(fill_number)


def _flag(value: str) -> bool:
    if value not in ("Y", "N"):
        raise Unreadable("Y/N field")
    return value == "Y"


def _record(confirmation: Confirmation, kind: str, values: list[str]) -> None:
    if kind == "P" and confirmation.kind == "PICKUP":
        confirmation.items.append((_key(values[0], values[1]), _amount(values[2]), False))
    elif kind == "K" and confirmation.kind == "PICKUP":
        if values[0] not in FLAG_NAMES:
            raise Unreadable("flag type")
        confirmation.flag_results.append((FLAG_NAMES[values[0]], _flag(values[1])))
    elif kind == "S" and confirmation.kind == "PICKUP":
        try:
            confirmation.signature_bytes = len(base64.b64decode(values[1], validate=True))
        except binascii.Error:
            raise Unreadable("signature") from None
    elif kind == "X" and confirmation.kind == "RETURN":
        confirmation.items.append((_key(values[0], values[1]), -abs(_amount(values[3])), True))
    elif kind == "L" and confirmation.kind == "SALE":
        confirmation.lines.append({"part_number": f"{values[0]}-{values[1]}" if values[0] else values[2],
                                   "quantity": f"{_amount(values[4])}", "line_total": f"{_amount(values[6])}",
                                   "taxable": _flag(values[7]), "rx_item": bool(values[0])})
    elif kind == "T" and confirmation.kind == "SALE":
        confirmation.totals = (_amount(values[0]), _amount(values[1]), _amount(values[2]))
    elif kind == "Y" and confirmation.kind == "SALE":
        if not values[0].isdigit():
            raise Unreadable("payment type")
        confirmation.payments.append({"type": int(values[0]), "amount": f"{_amount(values[1])}"})
    else:
        raise Unreadable(f"{kind} record in a {confirmation.kind}")
