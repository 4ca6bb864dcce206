"""Rx30 mode through a drop folder ("Mode 2"): the pharmacy system exports `ready.txt`, the relay writes one
confirmation file per outbox message into `outbound/`, and the pharmacy system sweeps them into `outbound/done/`.
The layouts are documented in simulators/pharmacycom (the package docstring); this reader and writer are written
apart from the fake's on purpose. Delivery here means "handed over": the file is in place, whole (temporary file,
then rename). check() also fails when handed-over files lie unswept, the only sign of a pharmacy system that stopped
reading them. Standard library only.
"""

from __future__ import annotations

import os
import re
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import unquote

from qiiub_relay.adapters.base import Flag, OutboundMessage, PharmacyUnavailable, ReadyPrescription
from qiiub_relay.adapters.messages import Pickup, Return, Sale, read_message
from qiiub_relay.adapters.rx30_codes import FLAG_CODES, FLAG_NAMES, money, payment_type
from qiiub_relay.adapters.transport import MAX_ANSWER_BYTES, malformed

READY_FORMAT, CONFIRM_FORMAT, VERSION = "QIIUB-RX30-READY", "QIIUB-RX30-CONFIRM", "1"
CONFIRMATION_NAME = re.compile(r"\d{1,18}\.txt")
STALE_AFTER_S = 300.0  # a confirmation file unswept this long: the pharmacy system is not reading the folder


def escape(value: str) -> str:
    return value.replace("%", "%25").replace("|", "%7C").replace("\r", "%0D").replace("\n", "%0A")


def yes_no(value: bool) -> str:
    return "Y" if value else "N"


class Rx30File:
    def __init__(self, drop_folder: str, *, stale_after_s: float = STALE_AFTER_S):
        if not drop_folder:
            raise ValueError("the drop folder is missing")
        self.folder = Path(drop_folder)
        self.outbound = self.folder / "outbound"
        self.stale_after_s = stale_after_s

    def ready_prescriptions(self) -> list[ReadyPrescription]:
        self._require_folder()
        try:
            with open(self.folder / "ready.txt", "rb") as file:
                raw = file.read(MAX_ANSWER_BYTES + 1)
        except FileNotFoundError:
            raise PharmacyUnavailable("ready_file_missing", "the pharmacy system has not exported ready.txt") from None
        except OSError:
            raise PharmacyUnavailable("drop_folder_unreadable", "ready.txt cannot be read") from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise malformed()
        return parse_ready(raw)

    def deliver(self, message: OutboundMessage) -> None:
        content = confirmation(read_message(message)).encode("utf-8")
        self._require_folder()
        name = f"{message.number:010d}.txt"
        temporary = self.outbound / f".{name}.tmp"
        try:
            self.outbound.mkdir(exist_ok=True)
            with open(temporary, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.outbound / name)
            _fsync_directory(self.outbound)
        except OSError:
            raise PharmacyUnavailable("drop_folder_unwritable", "the confirmation file cannot be written") from None

    def check(self) -> None:
        self.ready_prescriptions()
        oldest = time.time() - self.stale_after_s
        try:
            waiting = [path for path in self.outbound.iterdir() if CONFIRMATION_NAME.fullmatch(path.name)]
            stale = any(path.stat().st_mtime < oldest for path in waiting)
        except FileNotFoundError:
            return  # nothing handed over yet, or swept while we looked
        except OSError:
            raise PharmacyUnavailable("drop_folder_unreadable", "the outbound folder cannot be read") from None
        if stale:
            raise PharmacyUnavailable("drop_folder_not_swept", "the pharmacy system is not taking confirmation files")

    def _require_folder(self) -> None:
        if not self.folder.is_dir():
            raise PharmacyUnavailable("drop_folder_missing", "the drop folder is not there (is the share mounted?)")


def _fsync_directory(directory: Path) -> None:
    """Makes the rename durable before the hub hears "delivered" (POSIX; Windows has no directory handles)."""
    if os.name == "posix":
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def parse_ready(raw: bytes) -> list[ReadyPrescription]:
    """ready.txt as documented; anything else is malformed_answer."""
    try:
        lines = [line.removesuffix("\r") for line in raw.decode("utf-8").split("\n")]
        header = lines[0].split("|")
        if len(header) != 3 or header[:2] != [READY_FORMAT, VERSION] or not header[2].isdigit():
            raise ValueError("header")
        found: list[tuple[list[str], list[Flag]]] = []
        for line in lines[1:]:
            fields = [unquote(value) for value in line.split("|")]
            if fields[0] == "R" and len(fields) == 7:
                found.append((fields, []))
            elif fields[0] == "F" and len(fields) == 4 and found:
                kind = FLAG_NAMES.get(int(fields[1]))
                if kind is not None:  # a flag type a later version adds
                    found[-1][1].append(Flag(kind, _yes(fields[2]), fields[3]))
            elif fields[0] in ("R", "F"):
                raise ValueError(f"{fields[0]} record")
        if len(found) != int(header[2]):
            raise ValueError("record count")
        return [_prescription(fields, flags) for fields, flags in found]
    except (UnicodeDecodeError, ValueError, InvalidOperation):
        raise malformed() from None


def _yes(value: str) -> bool:
    if value not in ("Y", "N"):
        raise ValueError("Y/N field")
    return value == "Y"


def _prescription(fields: list[str], flags: list[Flag]) -> ReadyPrescription:
    _, rx_number, fill_number, amount_due, taxable, patient_name, ready_at = fields
    amount = Decimal(amount_due)
    if not rx_number or not fill_number.isdigit() or not amount.is_finite():
        raise ValueError("R record")
    return ReadyPrescription(rx_number, int(fill_number), money(amount), _yes(taxable), patient_name, tuple(flags),
                             ready_at or None)


def confirmation(content: Pickup | Sale | Return) -> str:
    """One outbox message as a confirmation file."""
    if isinstance(content, Pickup):
        by = content.picked_up_by
        records = [("PICKUP", content.number, content.picked_up_at),
                   ("P", content.rx_number, content.fill_number, money(content.amount_paid), by.name, by.relation,
                    by.id_type or "", by.id_last4 or "")]
        records += [("K", FLAG_CODES[kind], yes_no(accepted)) for kind, accepted in content.flag_results]
        if content.signature:
            records.append(("S", content.signature.format, content.signature.data))
    elif isinstance(content, Return):
        records = [("RETURN", content.number, content.returned_at),
                   ("X", content.rx_number, content.fill_number, str(content.quantity), money(content.refund))]
    else:
        records = [("SALE", content.number, content.completed_at)]
        records += [("L", line.rx_number or "", "" if line.fill_number is None else line.fill_number, line.sku,
                     line.description, str(line.quantity), money(line.unit_price), money(line.line_total),
                     yes_no(line.taxable)) for line in content.lines]
        records.append(("T", money(content.subtotal), money(content.tax_total), money(content.total)))
        records += [("Y", payment_type(kind), money(amount)) for kind, amount in content.payments]
    header, *body = records
    lines = [f"{CONFIRM_FORMAT}|{VERSION}|" + "|".join(escape(str(value)) for value in header)]
    lines += ["|".join(escape(str(value)) for value in record) for record in body]
    return "\n".join(lines) + "\n"
