"""The PioneerRx fake's routes, `POST /api/RxQuery` and `POST /api/RxComplete`, behind the signed-timestamp check,
answering as an ASP.NET Web API does: `{"Message": …}` error bodies, property names matched case-insensitively,
unknown properties ignored."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import re
from decimal import Decimal, InvalidOperation

from simulators.base import Reply, json_reply
from simulators.pharmacycom.steering import PharmacyFakeHandler, Prescription, spoiled
from simulators.pioneerrx.state import PioneerRxState, patient_id

TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,7}))?Z")
MAX_SKEW = datetime.timedelta(minutes=5)
ROUTES = {"/api/rxquery": "rx_query", "/api/rxcomplete": "rx_complete"}  # IIS paths are case-insensitive
FLAG_WORDS = {"hipaa": "HIPAA", "safety_cap": "SafetyCap", "counseling": "Counseling"}
FLAG_NAMES = {word.lower(): name for name, word in FLAG_WORDS.items()}
NO_RESULTS = "No Results for Method"  # documented: answered with HTTP 500
DENIED = "Authorization has been denied for this request."
INVALID = "The request is invalid."


def prx_signature(timestamp: str, shared_secret: str) -> str:
    """Base64(SHA-512(UTF-16LE(timestamp + shared secret))): a plain hash, not an HMAC; the body is not signed."""
    return base64.b64encode(hashlib.sha512((timestamp + shared_secret).encode("utf-16-le")).digest()).decode()


def fresh(timestamp: str, now: datetime.datetime) -> bool:
    match = TIMESTAMP.fullmatch(timestamp)
    if not match:
        return False
    try:
        when = datetime.datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    except ValueError:
        return False
    return abs(when - now) <= MAX_SKEW


def message(status: int, text: str) -> Reply:
    return json_reply(status, {"Message": text})


class Invalid(Exception):
    """A request PioneerRx cannot take: 400 `{"Message": "The request is invalid."}`."""


class PioneerRxHandler(PharmacyFakeHandler):
    state: PioneerRxState

    def answer(self, path: str, raw: bytes) -> Reply:
        route = ROUTES.get(path.lower())
        if route is None:
            return message(404, f"No HTTP resource was found that matches the request URI '{path}'.")
        if self.command != "POST":
            return message(405, f"The requested resource does not support http method '{self.command}'.")
        with self.state.lock:
            if self.state.down:
                return Reply(503, b"<h1>Service Unavailable</h1>", "text/html; charset=utf-8")
            if not self._signed():
                self.state.auth_failures += 1
                return message(401, DENIED)
            spoil = self.state.malformed.due()
        reply = self._api(route, raw)
        return spoiled(reply, spoil) if spoil else reply

    def _api(self, route: str, raw: bytes) -> Reply:
        if self._media_type() not in ("application/json", "text/json"):
            return message(415, f"The request entity's media type '{self._media_type()}' is not supported for this "
                                "resource.")  # the real API takes XML too; this fake only JSON
        try:
            body = json.loads(raw or b"{}", parse_float=Decimal, object_hook=_folded)
            if not isinstance(body, dict):
                raise Invalid
            with self.state.lock:
                return getattr(self, f"_{route}")(body)
        except (ValueError, Invalid):
            return message(400, INVALID)

    def _signed(self) -> bool:
        key, timestamp, signature = (self.headers.get(name) or "" for name in ("prx-api-key", "prx-timestamp",
                                                                                 "prx-signature"))
        expected = prx_signature(timestamp, self.state.shared_secret)
        return (hmac.compare_digest(key.encode(), self.state.api_key.encode())
                and hmac.compare_digest(signature.encode(), expected.encode())
                and fresh(timestamp, datetime.datetime.now(datetime.UTC)))

    def _rx_query(self, body: dict) -> Reply:
        """Ready prescriptions of a patient (`patientId`), or with no patient every one of the store [inf]. Linked
        patients (family members) are not modelled."""
        patient = body.get("patientid")
        if patient is not None and not isinstance(patient, str):
            raise Invalid
        patients: dict[str, dict] = {}
        for rx in self.state.ready(patient):
            last, _, first = rx.patient_name.partition(", ")
            entry = patients.setdefault(patient_id(rx), {"patientId": patient_id(rx), "firstName": first,
                                                         "lastName": last, "rxs": []})
            entry["rxs"].append(_rx(rx))
        if not patients:
            return message(500, NO_RESULTS)
        return json_reply(200, {"patients": list(patients.values())})

    def _rx_complete(self, body: dict) -> Reply:
        transaction_id, status = body.get("transactionid"), str(body.get("status", "")).lower()
        rxs = body.get("rxs")
        if not isinstance(transaction_id, str) or not transaction_id or status not in ("pickedup", "returned"):
            raise Invalid
        if not isinstance(rxs, list) or not rxs:
            raise Invalid
        picked_up_by = body.get("pickedupby") or {}
        if not isinstance(picked_up_by, dict) or (status == "pickedup" and not picked_up_by.get("name")):
            raise Invalid  # PickedUpBy is conditional: required for a pickup
        signature = body.get("signature") or {}
        if not isinstance(signature, dict):
            raise Invalid
        record = {
            "status": "PickedUp" if status == "pickedup" else "Returned",
            "completed_date": body.get("completeddate"),
            "acknowledgements": [_acknowledgement(raw) for raw in signature.get("acknowledgements") or []],
            "signature": bool(signature.get("image")),
            "signature_bytes": _image_size(signature.get("image")),
            "picked_up_by": {"relationship": picked_up_by.get("relationship"), "id_type": picked_up_by.get("idtype"),
                             "id_last4": bool(picked_up_by.get("idlast4"))},
            "electronic_patient_education": bool(body.get("electronicpatienteducation")),
        }
        if not self.state.complete(transaction_id, status == "returned", record, [_completed(raw) for raw in rxs]):
            return message(500, NO_RESULTS)
        return json_reply(200, {"success": True, "transactionId": transaction_id})


def _folded(pairs: dict) -> dict:
    return {key.lower(): value for key, value in pairs.items()}


def _rx(rx: Prescription) -> dict:
    return {
        "rxNumber": rx.rx_number,
        "fillNumber": rx.fill_number,
        "patientPayAmount": float(rx.amount_due),
        "totalThirdPartyAmountPaid": 0.0,
        "taxable": rx.taxable,
        "readyDate": rx.ready_at,
        "flags": [{"flagType": FLAG_WORDS[flag.type], "required": flag.required, "message": flag.message}
                  for flag in rx.flags],
    }


def _completed(raw) -> tuple[tuple[str, int], Decimal]:
    if not isinstance(raw, dict):
        raise Invalid
    rx_number, fill_number, amount = raw.get("rxnumber"), raw.get("fillnumber"), raw.get("amountpaid", 0)
    if isinstance(rx_number, int) and not isinstance(rx_number, bool):
        rx_number = str(rx_number)
    if not isinstance(rx_number, str) or isinstance(fill_number, bool) or not isinstance(fill_number, int):
        raise Invalid
    try:
        return (rx_number, fill_number), Decimal(str(amount))
    except InvalidOperation:
        raise Invalid from None


def _acknowledgement(raw) -> dict:
    flag = FLAG_NAMES.get(str(raw.get("flagtype", "")).lower()) if isinstance(raw, dict) else None
    if flag is None or not isinstance(raw.get("accepted"), bool):
        raise Invalid
    return {"type": flag, "accepted": raw["accepted"]}


def _image_size(image) -> int:
    if not image:
        return 0
    try:
        return len(base64.b64decode(image, validate=True))
    except (binascii.Error, TypeError, ValueError):
        raise Invalid from None
