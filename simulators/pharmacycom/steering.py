"""What both pharmacy-system fakes (this one and `simulators.pioneerrx`) share: the prescriptions a test puts up for
pickup, the malformed-answer switch and serving HTTPS on the store's LAN. Vendor wire formats stay in each fake.
"""

from __future__ import annotations

import datetime
import re
import ssl
import tempfile
import unicodedata
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from http.server import ThreadingHTTPServer
from pathlib import Path

from simulators.base import FakeHandler, Reply
from simulators.tls import self_signed_certificate

FLAG_TYPES = ("hipaa", "safety_cap", "counseling")
MALFORMED_KINDS = ("broken", "oversized")  # the first is the default
OVERSIZED_BYTES = 6 * 1024 * 1024  # past the relay's 5 MB answer cap
RX_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,19}")
MAX_FILL = 99
MAX_TEXT = 100


@dataclass
class FakeFlag:
    type: str  # one of FLAG_TYPES
    required: bool
    message: str = ""

    def shown(self) -> dict:
        return {"type": self.type, "required": self.required}


@dataclass
class Prescription:
    """One fill the pharmacy holds for pickup; `status` is ready or picked_up."""

    rx_number: str
    fill_number: int
    amount_due: Decimal
    taxable: bool
    patient_name: str
    flags: list[FakeFlag] = field(default_factory=list)
    ready_at: str = ""
    status: str = "ready"

    @property
    def key(self) -> tuple[str, int]:
        return self.rx_number, self.fill_number

    def copy(self) -> Prescription:
        return replace(self, flags=[replace(flag) for flag in self.flags])

    def shown(self) -> dict:
        """As /_state shows it: no patient name."""
        return {"rx_number": self.rx_number, "fill_number": self.fill_number, "amount_due": f"{self.amount_due:.2f}",
                "taxable": self.taxable, "flags": [flag.shown() for flag in self.flags]}


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(value, name: str) -> Decimal:
    """A decimal amount from a /_control body (a string or a number); ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{name} must be a decimal amount such as \"12.50\"")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a decimal amount such as \"12.50\"") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{name} must be ≥ 0 with at most two decimals")
    return amount.quantize(Decimal("0.01"))


def text(value, name: str, *, required: bool = True) -> str:
    """Free text (a name, a flag's message): no control characters, which neither XML nor the drop files carry."""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > MAX_TEXT:
        raise ValueError(f"{name} must be a {'non-empty ' if required else ''}string of at most {MAX_TEXT} characters")
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise ValueError(f"{name} must not contain control characters")
    return value


def prescription_key(raw, name: str) -> tuple[str, int]:
    if not isinstance(raw, dict):
        raise ValueError(f"{name} must be an object with rx_number and fill_number")
    rx_number, fill_number = raw.get("rx_number"), raw.get("fill_number")
    if not isinstance(rx_number, str) or not RX_NUMBER.fullmatch(rx_number):
        raise ValueError(f"{name}.rx_number must be 1-20 letters, digits, '.', '/' or '-'")
    if isinstance(fill_number, bool) or not isinstance(fill_number, int) or not 0 <= fill_number <= MAX_FILL:
        raise ValueError(f"{name}.fill_number must be an integer from 0 to {MAX_FILL}")
    return rx_number, fill_number


def parse_flags(raw, name: str) -> list[FakeFlag]:
    if not isinstance(raw, list):
        raise ValueError(f"{name} must be a list")
    flags = []
    for index, flag in enumerate(raw):
        where = f"{name}[{index}]"
        if not isinstance(flag, dict) or flag.get("type") not in FLAG_TYPES:
            raise ValueError(f"{where}.type must be one of {', '.join(FLAG_TYPES)}")
        if not isinstance(flag.get("required", True), bool):
            raise ValueError(f"{where}.required must be true or false")
        flags.append(FakeFlag(flag["type"], flag.get("required", True),
                              text(flag.get("message", ""), f"{where}.message", required=False)))
    return flags


def parse_prescriptions(raw) -> list[Prescription]:
    """The `add` list of a /_control body; ValueError when any of it is malformed."""
    if not isinstance(raw, list):
        raise ValueError("add must be a list of prescriptions")
    added = []
    for index, item in enumerate(raw):
        where = f"add[{index}]"
        rx_number, fill_number = prescription_key(item, where)
        if not isinstance(item.get("taxable", False), bool):
            raise ValueError(f"{where}.taxable must be true or false")
        ready_at = item.get("ready_at") or utc_now()
        if not isinstance(ready_at, str):
            raise ValueError(f"{where}.ready_at must be an ISO 8601 time")
        added.append(Prescription(
            rx_number, fill_number, money(item.get("amount_due"), f"{where}.amount_due"), item.get("taxable", False),
            text(item.get("patient_name"), f"{where}.patient_name"),
            parse_flags(item.get("flags", []), f"{where}.flags"), ready_at,
        ))
    return added


@dataclass
class MalformedSwitch:
    """`{"malformed": {"count": N, "kind": "broken" | "oversized"}}`: the next N vendor calls are carried out but
    their answers spoiled (see `spoiled`)."""

    count: int = 0
    kind: str = MALFORMED_KINDS[0]

    @staticmethod
    def parse(raw) -> MalformedSwitch:
        if not isinstance(raw, dict):
            raise ValueError("malformed must be an object such as {\"count\": 1, \"kind\": \"broken\"}")
        count, kind = raw.get("count", 1), raw.get("kind", MALFORMED_KINDS[0])
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("malformed.count must be an integer ≥ 0")
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"malformed.kind must be one of {', '.join(MALFORMED_KINDS)}")
        return MalformedSwitch(count, kind)

    def due(self) -> str | None:
        """The kind of broken answer this call gets, if one is due; asking counts the call."""
        if self.count <= 0:
            return None
        self.count -= 1
        return self.kind


def spoiled(reply: Reply, kind: str) -> Reply:
    """The answer cut in half ("broken"), or padded with whitespace past the relay's 5 MB cap and still well-formed
    ("oversized"), so that only the cap can refuse it."""
    if kind == "broken":
        return reply._replace(payload=reply.payload[: len(reply.payload) // 2])
    return reply._replace(payload=reply.payload + b" " * OVERSIZED_BYTES)


def boolean(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def serve_tls(server: ThreadingHTTPServer) -> None:
    """Serves HTTPS with a new self-signed certificate for 127.0.0.1 / localhost, the store's self-issued one;
    `server.cert_path` is the certificate a client trusts."""
    cert_path, key_path = self_signed_certificate(Path(tempfile.mkdtemp(prefix="pharmacy-fake-tls-")))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    key_path.unlink()  # held in memory now; only the certificate stays on disk
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.cert_path = str(cert_path)


class PharmacyFakeHandler(FakeHandler):
    """A pharmacy fake's handler: a client that hangs up on an oversized answer (as the relay must) is no error."""

    def _send(self, reply: Reply) -> None:
        try:
            super()._send(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
