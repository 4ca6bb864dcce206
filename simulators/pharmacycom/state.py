"""Everything the Rx30-mode fake remembers: its prescriptions, the invoices it was sent (over SOAP or as files), the
house-charge accounts; what `POST /_control` changes in it and what `GET /_state` shows (never a patient's name nor
signature data: only whether a signature came and its size)."""

from __future__ import annotations

import threading
from decimal import Decimal
from pathlib import Path

from simulators.pharmacycom.dropfolder import DropFolder, Unreadable
from simulators.pharmacycom.soap import Encryption
from simulators.pharmacycom.steering import (
    MalformedSwitch,
    Prescription,
    boolean,
    money,
    parse_prescriptions,
    prescription_key,
)

CONTROL_KEYS = frozenset(("reset", "add", "remove", "reset_pickup", "down", "malformed", "credit"))


class PharmacyComState:
    def __init__(self, prescriptions: list[Prescription], drop_folder: Path | None = None, password: str | None = None):
        self.lock = threading.Lock()
        self._initial = prescriptions
        self.drop = DropFolder(drop_folder) if drop_folder else None
        self.encryption = Encryption(password) if password else None  # PharmacyCOM's optional message encryption
        self._reset()

    def _reset(self) -> None:
        self.prescriptions: dict[tuple[str, int], Prescription] = {rx.key: rx.copy() for rx in self._initial}
        self.rx_invoices: dict[int, dict] = {}  # RxInvoiceNumber → what SaveRxInvoice carried
        self.invoices: dict[int, dict] = {}  # Invoice Id → what SaveInvoice carried
        self.returns: list[dict] = []
        self.repeats = 0
        self.down = False
        self.malformed = MalformedSwitch()
        self.credit: dict[str, tuple[Decimal, Decimal]] = {}  # customer id → (available credit, balance)
        self.files = {"applied": 0, "rejected": 0}
        self.export()

    # -- steering -----------------------------------------------------------------------------------------------------

    def control(self, body: dict) -> None:
        unknown = set(body) - CONTROL_KEYS
        if unknown:
            raise ValueError(f"unknown /_control keys: {', '.join(sorted(unknown))}")
        added = parse_prescriptions(body.get("add", []))
        removed = [prescription_key(raw, f"remove[{i}]") for i, raw in enumerate(_listed(body, "remove"))]
        reset_pickups = [prescription_key(raw, f"reset_pickup[{i}]")
                         for i, raw in enumerate(_listed(body, "reset_pickup"))]
        down = boolean(body["down"], "down") if "down" in body else None
        malformed = MalformedSwitch.parse(body["malformed"]) if "malformed" in body else None
        credit = _credit(body["credit"]) if "credit" in body else None
        if body.get("reset"):
            self._reset()
        for rx in added:
            self.prescriptions[rx.key] = rx
        for key in removed:
            self.prescriptions.pop(key, None)
        for key in reset_pickups:  # staff set "picked up" back by hand in Rx30, e.g. after a return
            if key in self.prescriptions:
                self.prescriptions[key].status = "ready"
        if down is not None:
            self.down = down
        if malformed is not None:
            self.malformed = malformed
        if credit is not None:
            self.credit.update(credit)
        self.export()

    def snapshot(self) -> dict:
        picked_up = [rx for rx in self.prescriptions.values() if rx.status == "picked_up"]
        returned = {(entry["rx_number"], entry["fill_number"]) for entry in self.returns}
        return {
            "ready": [rx.shown() for rx in self.ready()],
            "picked_up": [{"rx_number": rx.rx_number, "fill_number": rx.fill_number, "returned": rx.key in returned}
                          for rx in picked_up],
            "rx_invoices": {str(number): invoice for number, invoice in self.rx_invoices.items()},
            "invoices": {str(number): invoice for number, invoice in self.invoices.items()},
            "returns": self.returns,
            "repeats": self.repeats,
            "down": self.down,
            "malformed_pending": self.malformed.count,
            "drop_folder": str(self.drop.folder) if self.drop else None,
            "files": self.files,
        }

    # -- the pharmacy system ------------------------------------------------------------------------------------------

    def ready(self) -> list[Prescription]:
        return sorted((rx for rx in self.prescriptions.values() if rx.status == "ready"), key=lambda rx: rx.key)

    def save_rx_invoice(self, number: int, record: dict, items: list[tuple[tuple[str, int], Decimal, bool]]) -> bool:
        """SaveRxInvoice: idempotent on the invoice number; false (nothing kept) when an Rx is unknown. A pickup takes
        the fill off the ready list; a return is recorded but, as in Rx30, leaves the fill picked up."""
        if number in self.rx_invoices:
            self.repeats += 1
            return True
        if not items or any(key not in self.prescriptions for key, _, _ in items):
            return False
        for key, amount, returned in items:
            rx = self.prescriptions[key]
            if returned:
                self.returns.append({"invoice": number, "rx_number": rx.rx_number, "fill_number": rx.fill_number,
                                     "amount": f"{amount:.2f}", "still_picked_up": rx.status == "picked_up"})
            else:
                rx.status = "picked_up"
        self.rx_invoices[number] = {**record, "items": [
            {"rx_number": key[0], "fill_number": key[1], "amount": f"{amount:.2f}", "return": returned}
            for key, amount, returned in items
        ]}
        self.export()
        return True

    def save_invoice(self, number: int, record: dict) -> bool:
        """SaveInvoice: a copy of the whole sale, idempotent on its Id; it changes no prescription."""
        if number in self.invoices:
            self.repeats += 1
        else:
            self.invoices[number] = record
        return True

    def available_credit(self, customer_id: str) -> tuple[Decimal, Decimal] | None:
        return self.credit.get(customer_id)

    # -- file-drop mode -----------------------------------------------------------------------------------------------

    def export(self) -> None:
        """Rewrites ready.txt after every change, unless the system is down (then on its return)."""
        if self.drop and not self.down:
            self.drop.write_ready(self.ready())

    def sweep(self) -> None:
        """Applies the confirmation files waiting in outbound/ and moves each to done/ (or rejected/)."""
        with self.lock:
            if not self.drop or self.down:
                return
            for path in self.drop.waiting():
                try:
                    accepted = self._apply(self.drop.read(path))
                except Unreadable:
                    accepted = False
                self.files["applied" if accepted else "rejected"] += 1
                self.drop.settle(path, accepted=accepted)

    def _apply(self, confirmation) -> bool:
        record = {"via": "file", "date": confirmation.at}
        if confirmation.kind == "SALE":
            subtotal, tax, total = confirmation.totals
            return self.save_invoice(confirmation.number, {
                **record, "total": f"{total:.2f}", "tax_total": f"{tax:.2f}", "lines": confirmation.lines,
                "payments": confirmation.payments,
            })
        amount = sum((amount for _, amount, _ in confirmation.items), Decimal("0"))
        return self.save_rx_invoice(confirmation.number, {
            **record, "total": f"{amount:.2f}", "payments": [],
            "flag_results": [{"type": kind, "accepted": accepted} for kind, accepted in confirmation.flag_results],
            "signature": confirmation.signature_bytes is not None,
            "signature_bytes": confirmation.signature_bytes or 0,
        }, confirmation.items)


def _listed(body: dict, name: str) -> list:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list of {{rx_number, fill_number}}")
    return value


def _credit(raw) -> dict[str, tuple[Decimal, Decimal]]:
    if not isinstance(raw, dict):
        raise ValueError('credit must map a customer id to {"available": "…", "balance": "…"}')
    accounts = {}
    for customer_id, account in raw.items():
        if not isinstance(account, dict):
            raise ValueError(f"credit.{customer_id} must be an object")
        accounts[customer_id] = (money(account.get("available", "0"), f"credit.{customer_id}.available"),
                                 money(account.get("balance", "0"), f"credit.{customer_id}.balance"))
    return accounts
