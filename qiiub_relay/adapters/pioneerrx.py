"""PioneerRx's POS Universal API: RxQuery and RxComplete, HTTPS JSON signed with `prx-api-key`, `prx-timestamp` and
`prx-signature` (Base64(SHA-512(UTF-16LE(timestamp + shared secret))), a plain hash: the body is not signed). Field
names the public page does not show are our guesses, marked [inf] in simulators/pioneerrx, which documents the wire.

- ready_prescriptions: RxQuery without a patient, every ready prescription of the store [inf]. PioneerRx answers
  "No Results for Method" with HTTP 500 (documented): that is an empty list, not an error.
- pickup → RxComplete, status "PickedUp", the Rx at the amount paid, Signature (the image as the register sent it and
  each flag's answer) and PickedUpBy; return → RxComplete, status "Returned" [inf], at the negative refund.
  `transactionId` is the outbox message's id, so a repeat is acknowledged, not applied twice [inf].
- sale: PioneerRx has no sale operation; each Rx line went as its pickup's RxComplete, so a sale is acknowledged
  without a call.
A refused signature or API key (401/403) is PharmacyUnavailable `auth_failed`, not a refusal: the message is kept and
goes once the credentials or this machine's clock are put right; the heartbeat shows the code. Standard library only.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from qiiub_relay.adapters.base import (
    Flag,
    OutboundMessage,
    PharmacyRefused,
    PharmacyUnavailable,
    ReadyPrescription,
)
from qiiub_relay.adapters.messages import Pickup, Return, Sale, read_message
from qiiub_relay.adapters.transport import TIMEOUT_S, Answer, Connection, malformed

NO_RESULTS = "no results for method"
FLAG_WORDS = {"hipaa": "HIPAA", "safety_cap": "SafetyCap", "counseling": "Counseling"}
FLAG_NAMES = {word.lower(): name for name, word in FLAG_WORDS.items()}


def prx_signature(timestamp: str, shared_secret: str) -> str:
    return base64.b64encode(hashlib.sha512((timestamp + shared_secret).encode("utf-16-le")).digest()).decode()


def prx_timestamp(now: datetime.datetime) -> str:
    return now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PioneerRx:
    def __init__(self, base_url: str, api_key: str, shared_secret: str, *, ca_file: str | None = None,
                 timeout_s: float = TIMEOUT_S):
        url = urlsplit(base_url)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError("pioneerrx base_url must be a URL such as https://pharmacy-server:8443/")
        if not api_key or not shared_secret:
            raise ValueError("pioneerrx credentials need api_key and shared_secret")
        tls = url.scheme == "https"
        self._connection = Connection(url.hostname, url.port or (443 if tls else 80), tls=tls, ca_file=ca_file,
                                      timeout_s=timeout_s)
        self._api = url.path.rstrip("/") + "/api/"
        self._api_key, self._shared_secret = api_key, shared_secret

    def ready_prescriptions(self) -> list[ReadyPrescription]:
        answer = self._post("RxQuery", {})
        if _no_results(answer):
            return []
        if answer.status != 200:
            raise PharmacyUnavailable(f"http_{answer.status}", f"PioneerRx answered HTTP {answer.status}")
        data = _json(answer.body)
        try:
            return [_ready(patient, rx) for patient in data.get("patients") or [] for rx in patient.get("rxs") or []]
        except (AttributeError, KeyError, TypeError, ValueError, InvalidOperation):
            raise malformed() from None

    def deliver(self, message: OutboundMessage) -> None:
        content = read_message(message)
        if isinstance(content, Sale):
            return
        answer = self._post("RxComplete", _rx_complete(message.id, content))
        if _no_results(answer):
            raise PharmacyRefused("rx_unknown", "PioneerRx does not know this prescription")
        if answer.status == 400:
            raise PharmacyRefused("request_invalid", "PioneerRx found the RxComplete request invalid")
        if not 200 <= answer.status < 300:
            raise PharmacyUnavailable(f"http_{answer.status}", f"PioneerRx answered HTTP {answer.status}")
        if answer.body.strip():
            _json(answer.body)  # an answer that cannot be read is not an acknowledgement

    def check(self) -> None:
        self.ready_prescriptions()

    def _post(self, method: str, payload: dict) -> Answer:
        timestamp = prx_timestamp(datetime.datetime.now(datetime.UTC))
        answer = self._connection.request("POST", self._api + method, json.dumps(payload).encode(), {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "prx-api-key": self._api_key,
            "prx-timestamp": timestamp,
            "prx-signature": prx_signature(timestamp, self._shared_secret),
        })
        if answer.status in (401, 403):
            raise PharmacyUnavailable("auth_failed", "PioneerRx refused the API key or signature (check the "
                                      "credentials and this machine's clock)")
        return answer


def _json(raw: bytes):
    """JSON with property names folded to lower case (ASP.NET matches them case-insensitively) and exact decimals."""
    try:
        return json.loads(raw.decode("utf-8-sig"), parse_float=Decimal,
                          object_hook=lambda pairs: {key.lower(): value for key, value in pairs.items()})
    except (UnicodeDecodeError, ValueError):
        raise malformed() from None


def _no_results(answer: Answer) -> bool:
    if answer.status != 500:
        return False
    try:
        body = _json(answer.body)
    except PharmacyUnavailable:
        return False
    return isinstance(body, dict) and str(body.get("message", "")).strip().lower() == NO_RESULTS


def _ready(patient: dict, rx: dict) -> ReadyPrescription:
    last, first = patient.get("lastname") or "", patient.get("firstname") or ""
    rx_number, fill_number, amount = rx["rxnumber"], rx["fillnumber"], rx["patientpayamount"]
    if isinstance(rx_number, bool) or not isinstance(rx_number, str | int) or not str(rx_number):
        raise ValueError("rxNumber")
    if isinstance(fill_number, bool) or not isinstance(fill_number, int):
        raise ValueError("fillNumber")
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise ValueError("patientPayAmount")
    if not isinstance(rx.get("taxable", False), bool):
        raise ValueError("taxable")
    flags = tuple(Flag(FLAG_NAMES[str(flag["flagtype"]).lower()], bool(flag.get("required")), flag.get("message") or "")
                  for flag in rx.get("flags") or [] if str(flag.get("flagtype", "")).lower() in FLAG_NAMES)
    return ReadyPrescription(
        rx_number=str(rx_number), fill_number=fill_number, amount_due=f"{Decimal(amount):.2f}",
        taxable=rx.get("taxable", False), patient_name=f"{last}, {first}" if first else last, flags=flags,
        ready_at=rx.get("readydate") or None,
    )


def _rx_complete(transaction_id: str, content: Pickup | Return) -> dict:
    if isinstance(content, Return):
        return {"transactionId": transaction_id, "status": "Returned", "completedDate": content.returned_at,
                "rxs": [{"rxNumber": content.rx_number, "fillNumber": content.fill_number,
                         "amountPaid": float(content.refund)}]}
    by = content.picked_up_by
    payload = {
        "transactionId": transaction_id, "status": "PickedUp", "completedDate": content.picked_up_at,
        "rxs": [{"rxNumber": content.rx_number, "fillNumber": content.fill_number,
                 "amountPaid": float(content.amount_paid)}],
        "pickedUpBy": {key: value for key, value in (("name", by.name), ("relationship", by.relation),
                                                     ("idType", by.id_type), ("idLast4", by.id_last4)) if value},
    }
    if content.signature or content.flag_results:
        payload["signature"] = {
            "image": content.signature.data if content.signature else None,
            "imageFormat": content.signature.format if content.signature else None,
            "acknowledgements": [{"flagType": FLAG_WORDS[kind], "accepted": accepted}
                                 for kind, accepted in content.flag_results],
        }
    return payload
