"""Prescriptions ready for pickup: what the relay pushes, what registers pull and look up.

The relay sends changes (ready, withdrawn), each with its own id: a change seen before is skipped,
so a resend after a crash changes nothing. Registers pull the location's ready list with an ETag
(the station's `ready_version`, bumped in the same transaction as any change), so an unchanged
list costs one indexed read and carries no patient data; a list sent is an audited read.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context
from jsonschema import Draft202012Validator

from devices.records import FILL_NUMBER, FLAG_TYPES, MONEY, NO_NUL, RX_NUMBER, TIMESTAMP
from merchants.models import Location
from pharmacy.audit import Actor, phi_accessed
from pharmacy.models import PharmacyStation
from pharmacy.store.models import PhiAction, Prescription, PrescriptionStatus, ReceivedChange
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import ValidationFailed
from qiiub.phi import rx_base_key, rx_key
from qiiub.rows import insert_many
from qiiub.schemas import schema_errors_from

MAX_CHANGES = 500

CHANGE = {
    "type": "object", "additionalProperties": False, "required": ["message_id", "rx_number", "fill_number", "status"],
    "properties": {
        "message_id": {"type": "string", "format": "uuid",
                       "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
        "rx_number": RX_NUMBER, "fill_number": FILL_NUMBER,
        "status": {"type": "string", "enum": ["ready", "withdrawn"]},
        "amount_due": {**MONEY, "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$"}, "taxable": {"type": "boolean"},
        "flags": {"type": "array", "maxItems": 10, "items": {
            "type": "object", "additionalProperties": False, "required": ["type", "required"],
            "properties": {"type": {"type": "string", "enum": FLAG_TYPES}, "required": {"type": "boolean"},
                           "message": {"type": "string", "maxLength": 200, "pattern": NO_NUL}}}},
        "patient_name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NO_NUL},
        "ready_at": {**TIMESTAMP, "description": "When the pharmacy system made it ready."},
    },
    "if": {"properties": {"status": {"const": "ready"}}},
    "then": {"required": ["amount_due", "taxable", "patient_name"]},
}
UUID_TEXT = CHANGE["properties"]["message_id"]
MAX_LISTED = 20_000  # a store's whole ready list, with room to spare
COMPLETE = {
    "type": "object", "additionalProperties": False, "required": ["message_id", "listed"],
    "description": "Every fill the pharmacy system lists now: applied after the changes, it withdraws every other "
                   "fill still ready at the hub (a relay sends it after its first poll and after taking over).",
    "properties": {"message_id": UUID_TEXT, "listed": {"type": "array", "maxItems": MAX_LISTED, "items": {
        "type": "object", "additionalProperties": False, "required": ["rx_number", "fill_number"],
        "properties": {"rx_number": RX_NUMBER, "fill_number": FILL_NUMBER}}}},
}
PUSH_REQUEST = {"type": "object", "additionalProperties": False, "required": ["changes"], "properties": {
    "changes": {"type": "array", "maxItems": MAX_CHANGES, "items": CHANGE}, "complete": COMPLETE}}


@cache
def _push_validator() -> Draft202012Validator:
    return Draft202012Validator(PUSH_REQUEST)


def push_checked(body: Any) -> tuple[list[dict], dict | None]:
    """(the changes, the complete list or None) of a relay's push, or ValidationFailed with what to
    fix; nothing is applied of a push with any invalid part (the relay sends it again whole)."""
    ensure_no_card_data(body)
    errors = schema_errors_from(_push_validator(), body, unknown_field=_("Not a field of this request."))
    if not errors:
        changes = body["changes"]
        for index, change in enumerate(changes):
            try:
                if change.get("ready_at"):
                    change["ready_at"] = datetime.fromisoformat(change["ready_at"].replace("Z", "+00:00"))
            except ValueError:
                errors[f"changes[{index}].ready_at"] = [_("Not a date and time.")]
    if errors:
        raise ValidationFailed(_("The prescriptions pushed are not valid: nothing was applied."), field_errors=errors)
    return changes, body.get("complete")


@dataclass(frozen=True)
class PushResult:
    applied: int
    unchanged: int


def _phi_of(change: dict) -> dict:
    return {"rx_number": change["rx_number"], "fill_number": change["fill_number"],
            "patient_name": change["patient_name"],
            "flag_messages": [flag.get("message", "") for flag in change.get("flags", [])]}


def _fields_of(change: dict) -> dict:
    return {"amount_due": Decimal(change["amount_due"]).quantize(Decimal("0.01")), "taxable": change["taxable"],
            "flags": [{"type": flag["type"], "required": flag["required"]} for flag in change.get("flags", [])],
            "ready_at": change.get("ready_at")}


def _new_change_ids(changes: list[dict]) -> set[str]:
    if not changes:
        return set()
    ids = [(str(uuid.UUID(change["message_id"])), timezone.now()) for change in changes]
    created = insert_many(ReceivedChange, ("message_id", "received_at"), ids,
                          suffix="ON CONFLICT (message_id) DO NOTHING RETURNING message_id")
    return {str(message_id) for (message_id,) in created}


def _apply(prescription: Prescription | None, change: dict, location: Location, now: datetime) -> Prescription | None:
    """The prescription to save for one change, or None if it changes nothing."""
    if change["status"] == "withdrawn":
        if prescription is None or prescription.status != PrescriptionStatus.READY:
            return None
        prescription.status, prescription.closed_at = PrescriptionStatus.WITHDRAWN, now
        return prescription
    fields, phi = _fields_of(change), _phi_of(change)
    if prescription is None:
        return Prescription(location_code=location.code, rx_key=rx_key(location.code, change["rx_number"],
                                                                        change["fill_number"]),
                            rx_base_key=rx_base_key(location.code, change["rx_number"]), phi=phi, **fields)
    if prescription.status == PrescriptionStatus.PICKED_UP:
        return None  # handed over at a register: the pickup is on its way to the pharmacy system
    unchanged = (prescription.status == PrescriptionStatus.READY and prescription.phi == phi
                 and all(getattr(prescription, name) == value for name, value in fields.items()))
    if unchanged:
        return None
    for name, value in fields.items():
        setattr(prescription, name, value)
    prescription.phi, prescription.status, prescription.closed_at = phi, PrescriptionStatus.READY, None
    prescription.needs_manual_reset = False  # ready again: staff reset it in the pharmacy system
    return prescription


def prescriptions_push(*, location: Location, changes: list[dict], actor: Actor,
                       complete: dict | None = None) -> PushResult:
    """Apply a relay's checked changes in order, then its complete list if any, in one
    transaction; bumps the location's ready version if anything changed, and logs the write."""
    now = timezone.now()
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        new_ids = _new_change_ids(changes + ([complete] if complete else []))
        fresh = [(rx_key(location.code, change["rx_number"], change["fill_number"]), change) for change in changes
                 if str(uuid.UUID(change["message_id"])) in new_ids]
        existing = {prescription.rx_key: prescription for prescription in
                    Prescription.objects.select_for_update().filter(rx_key__in=[key for key, _ in fresh])}
        touched: dict[str, Prescription] = {}
        changed = 0
        for key, change in fresh:  # in the order sent: the last change of a fill wins
            if (prescription := _apply(existing.get(key), change, location, now)) is not None:
                existing[key] = touched[key] = prescription
                changed += 1
        saved = _saved(list(touched.values()), now)
        withdrawn = (_withdraw_unlisted(location, complete["listed"], now)
                     if complete and str(uuid.UUID(complete["message_id"])) in new_ids else [])
        if saved or withdrawn:
            PharmacyStation.objects.filter(location=location).update(ready_version=F("ready_version") + 1)
            phi_accessed(actor=actor, action=PhiAction.WRITE, resource="prescription", location_code=location.code,
                         record_ids=sorted({prescription.pk for prescription in saved + withdrawn}))
    return PushResult(applied=changed + len(withdrawn), unchanged=len(changes) - changed)


_CHANGEABLE = ("amount_due", "taxable", "flags", "ready_at", "phi", "status", "closed_at", "needs_manual_reset",
               "updated_at")


def _saved(prescriptions: list[Prescription], now: datetime) -> list[Prescription]:
    """Write the new and the changed fills of a push: one INSERT and one UPDATE, not one per fill."""
    for prescription in prescriptions:
        prescription.updated_at = now
    Prescription.objects.bulk_create([prescription for prescription in prescriptions if prescription.pk is None])
    Prescription.objects.bulk_update([prescription for prescription in prescriptions if prescription.pk is not None],
                                     _CHANGEABLE)
    return prescriptions


def _withdraw_unlisted(location: Location, listed: list[dict], now: datetime) -> list[Prescription]:
    keys = {rx_key(location.code, fill["rx_number"], fill["fill_number"]) for fill in listed}
    gone = list(Prescription.objects.select_for_update().filter(location_code=location.code,
                                                                status=PrescriptionStatus.READY)
                .exclude(rx_key__in=keys))
    Prescription.objects.filter(pk__in=[prescription.pk for prescription in gone]).update(
        status=PrescriptionStatus.WITHDRAWN, closed_at=now)
    return gone


def ready_version(location: Location) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ready_version FROM {PharmacyStation._meta.db_table} WHERE location_id = %s",
                       [location.pk])
        row = cursor.fetchone()
    return row[0] if row else 0


def ready_etag(location: Location, version: int) -> str:
    return f'"rx1-{location.pk}-{version}"'


def as_register_sees_it(prescription: Prescription) -> dict:
    """A prescription as a register shows it: minimum necessary (no drug, NDC or address)."""
    phi = prescription.phi
    messages = phi.get("flag_messages", [])
    return {
        "rx_number": phi["rx_number"], "fill_number": phi["fill_number"], "status": prescription.status,
        "amount_due": str(prescription.amount_due), "taxable": prescription.taxable,
        "patient_name": phi["patient_name"],
        "flags": [{**flag, "message": messages[index] if index < len(messages) else ""}
                  for index, flag in enumerate(prescription.flags)],
        "ready_at": prescription.ready_at.isoformat() if prescription.ready_at else None,
    }


def ready_list(*, location: Location, actor: Actor) -> list[dict]:
    """Every prescription waiting at the location, oldest first: an audited read."""
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        prescriptions = list(Prescription.objects.filter(location_code=location.code, status=PrescriptionStatus.READY)
                             .order_by("ready_at", "pk"))
        phi_accessed(actor=actor, action=PhiAction.READ, resource="ready_list", location_code=location.code,
                     record_ids=[prescription.pk for prescription in prescriptions])
    return [as_register_sees_it(prescription) for prescription in prescriptions]


_FILL_SUFFIX = re.compile(r"^(?P<rx>[0-9A-Za-z-]{1,20})[-/*](?P<fill>[0-9]{1,2})$")
BARCODE_PATTERN = r"^[0-9A-Za-z*/-]{1,24}$"


def barcode_checked(body: Any) -> str:
    """The barcode of a lookup request, or ValidationFailed (after the card guard: a card number
    scanned by mistake is refused without being quoted)."""
    ensure_no_card_data(body)
    barcode = body.get("barcode") if isinstance(body, dict) else None
    if not isinstance(barcode, str) or not re.match(BARCODE_PATTERN, barcode) or set(body) != {"barcode"}:
        raise ValidationFailed(_("Not an Rx barcode: letters, digits and - / * only, at most 24."),
                               field_errors={"barcode": [_("Not an Rx barcode.")]})
    return barcode


def prescriptions_for_barcode(*, location: Location, barcode: str, actor: Actor) -> list[dict]:
    """The ready fills a scanned Rx label names: `<rx>` (every ready fill of it) or `<rx>-<fill>`
    (`/` or `*` also separate the fill). An audited read, also when nothing matches."""
    keys = {"rx_base_key": rx_base_key(location.code, barcode)}
    if match := _FILL_SUFFIX.match(barcode):
        keys["rx_key"] = rx_key(location.code, match["rx"], int(match["fill"]))
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        ready = Prescription.objects.filter(location_code=location.code, status=PrescriptionStatus.READY)
        found = list(ready.filter(rx_key=keys["rx_key"])) if "rx_key" in keys else []
        found = found or list(ready.filter(rx_base_key=keys["rx_base_key"]).order_by("ready_at", "pk"))
        phi_accessed(actor=actor, action=PhiAction.READ, resource="prescription", location_code=location.code,
                     record_ids=[prescription.pk for prescription in found])
    return [as_register_sees_it(prescription) for prescription in found]


def prescription_reset_done(*, location: Location, prescription_id: int, actor: Actor) -> bool:
    """Staff say they reset a returned fill's pickup status in Rx30 by hand: it leaves the list of
    fills to reset (it also leaves by itself when Rx30 lists it ready again). False if it was not
    on the list (already done, or not this location's)."""
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        done = Prescription.objects.filter(pk=prescription_id, location_code=location.code,
                                           status=PrescriptionStatus.RETURNED, needs_manual_reset=True,
                                           ).update(needs_manual_reset=False)
        if done:
            phi_accessed(actor=actor, action=PhiAction.WRITE, resource="prescription", location_code=location.code,
                         record_ids=[prescription_id])
    return bool(done)
