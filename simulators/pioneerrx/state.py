"""Everything the PioneerRx fake remembers: the store's prescriptions, the RxComplete calls it took (by transaction id)
and the refused signatures; what `POST /_control` changes in it and what `GET /_state` shows (never a patient's name
nor signature data)."""

from __future__ import annotations

import hashlib
import threading
from decimal import Decimal

from simulators.pharmacycom.steering import (
    MalformedSwitch,
    Prescription,
    boolean,
    parse_prescriptions,
    prescription_key,
)

CONTROL_KEYS = frozenset(("reset", "add", "remove", "down", "malformed"))


def patient_id(rx: Prescription) -> str:
    """The fake's patients are known by name alone; their PioneerRx id is derived from it."""
    return "P" + hashlib.sha256(rx.patient_name.encode()).hexdigest()[:8].upper()


class PioneerRxState:
    def __init__(self, prescriptions: list[Prescription], api_key: str, shared_secret: str):
        self.lock = threading.Lock()
        self.api_key, self.shared_secret = api_key, shared_secret
        self._initial = prescriptions
        self._reset()

    def _reset(self) -> None:
        self.prescriptions: dict[tuple[str, int], Prescription] = {rx.key: rx.copy() for rx in self._initial}
        self.completions: dict[str, dict] = {}  # transaction id → what RxComplete carried
        self.returns: list[dict] = []
        self.repeats = 0
        self.auth_failures = 0
        self.down = False
        self.malformed = MalformedSwitch()

    def control(self, body: dict) -> None:
        unknown = set(body) - CONTROL_KEYS
        if unknown:
            raise ValueError(f"unknown /_control keys: {', '.join(sorted(unknown))}")
        added = parse_prescriptions(body.get("add", []))
        removed = body.get("remove", [])
        if not isinstance(removed, list):
            raise ValueError("remove must be a list of {rx_number, fill_number}")
        removed = [prescription_key(raw, f"remove[{index}]") for index, raw in enumerate(removed)]
        down = boolean(body["down"], "down") if "down" in body else None
        malformed = MalformedSwitch.parse(body["malformed"]) if "malformed" in body else None
        if body.get("reset"):
            self._reset()
        for rx in added:
            self.prescriptions[rx.key] = rx
        for key in removed:
            self.prescriptions.pop(key, None)
        if down is not None:
            self.down = down
        if malformed is not None:
            self.malformed = malformed

    def snapshot(self) -> dict:
        return {
            "ready": [rx.shown() for rx in self.ready()],
            "picked_up": [{"rx_number": rx.rx_number, "fill_number": rx.fill_number}
                          for rx in self.prescriptions.values() if rx.status == "picked_up"],
            "completions": self.completions,
            "returns": self.returns,
            "repeats": self.repeats,
            "auth_failures": self.auth_failures,
            "down": self.down,
            "malformed_pending": self.malformed.count,
        }

    def ready(self, patient: str | None = None) -> list[Prescription]:
        return sorted((rx for rx in self.prescriptions.values()
                       if rx.status == "ready" and patient in (None, patient_id(rx))), key=lambda rx: rx.key)

    def complete(self, transaction_id: str, returned: bool, record: dict,
                 rxs: list[tuple[tuple[str, int], Decimal]]) -> bool:
        """RxComplete: idempotent on the transaction id; false (nothing kept) when an Rx is unknown. A pickup takes the
        fill off the ready list; a return puts it back in the will-call bin, ready again [inf]."""
        if transaction_id in self.completions:
            self.repeats += 1
            return True
        if any(key not in self.prescriptions for key, _ in rxs):
            return False
        for key, amount in rxs:
            self.prescriptions[key].status = "ready" if returned else "picked_up"
            if returned:
                self.returns.append({"transaction_id": transaction_id, "rx_number": key[0], "fill_number": key[1],
                                     "amount": f"{amount:.2f}"})
        self.completions[transaction_id] = {**record, "rxs": [
            {"rx_number": key[0], "fill_number": key[1], "amount_paid": f"{amount:.2f}"} for key, amount in rxs
        ]}
        return True
