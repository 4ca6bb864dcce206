"""Pickups, Rx sales and returns from the registers, and the outbox that carries them to the
pharmacy system through the location's relay.

Registers upload pickups as `rx_pickup` records and Rx lines inside sales (`devices`); both arrive
here in the upload's transaction (`register_writer`, `observe_new_sales` from PharmacyConfig.ready).
A pickup takes its prescription off the ready list at once (every register of the store sees it
on its next pull) and becomes an outbox message; so does each Rx sale and each return. Messages
are numbered per location and handed to the relay in order; one source makes one message, so an
upload sent again adds none.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, datetime

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from devices.pos_records import Batch
from events.publish import NewEvent
from pharmacy.audit import Actor, phi_accessed
from pharmacy.models import PharmacyStation
from pharmacy.relays import pharmacy_integration
from pharmacy.store.models import (
    ActorKind,
    MessageKind,
    OutboxMessage,
    PhiAction,
    Pickup,
    Prescription,
    PrescriptionStatus,
)
from qiiub.phi import rx_key
from qiiub.rows import insert_many

# Rx30 does not reset a fill's pickup when it is returned at the register: staff do it by hand.
MANUAL_RESET_ON_RETURN = {"pharmacy.rx30"}


def _keep_until(picked_up_at: datetime) -> date:
    years = settings.PHARMACY_SIGNATURE_RETENTION_YEARS
    day = picked_up_at.date()
    return day.replace(year=day.year + years) if not (day.month == 2 and day.day == 29) else date(day.year + years, 3, 1)


def _register_actor(batch: Batch) -> Actor:
    return Actor(ActorKind.TERMINAL, batch.terminal_id, batch.terminal_name or f"terminal {batch.terminal_id}",
                 batch.source)


def _prep(model, field_name: str, value):
    return model._meta.get_field(field_name).get_db_prep_save(value, connection)


_PICKUP = ("client_uuid", "location_code", "terminal_id", "rx_key", "prescription_id", "picked_up_at", "relation",
           "flag_results", "phi", "signature", "signature_bytes", "amount_paid", "sale_client_uuid", "keep_until")


def _pickup_row(batch: Batch, pickup: dict, prescription_id: int | None) -> tuple:
    signature = pickup["signature"]
    person = pickup["picked_up_by"]
    phi = {"rx_number": pickup["rx_number"], "fill_number": pickup["fill_number"], "picked_up_by": person["name"],
           "id_type": person.get("id_type", ""), "id_last4": person.get("id_last4", "")}
    return (
        pickup["client_uuid"], batch.location.code, batch.terminal_id,
        rx_key(batch.location.code, pickup["rx_number"], pickup["fill_number"]), prescription_id,
        pickup["picked_up_at"], person["relation"], json.dumps(pickup["flag_results"]), _prep(Pickup, "phi", phi),
        _prep(Pickup, "signature", {"format": signature["format"], "data": signature["data"]}) if signature else None,
        len(signature["image"]) if signature else 0, pickup["amount_paid"], pickup["sale_client_uuid"],
        _keep_until(pickup["picked_up_at"]),
    )


def _pickup_message(batch: Batch, pickup: dict) -> dict:
    signature = pickup["signature"]
    return {
        "rx_number": pickup["rx_number"], "fill_number": pickup["fill_number"],
        "picked_up_at": pickup["picked_up_at"].isoformat(), "picked_up_by": pickup["picked_up_by"],
        "flag_results": pickup["flag_results"],
        "signature": {"format": signature["format"], "data": signature["data"]} if signature else None,
        "amount_paid": str(pickup["amount_paid"]), "sale_id": pickup["sale_client_uuid"],
        "register": batch.terminal_name or str(batch.terminal_id or ""),
    }


def pickups_store(batch: Batch, pickups: list[dict]) -> tuple[set[str], list[NewEvent]]:
    """The `rx_pickup` writer: store the new pickups (a client UUID seen before is skipped), take
    their fills off the ready list, queue them for the pharmacy system and log the write. No
    event: patient data never leaves through the bus."""
    code = batch.location.code
    keys = [rx_key(code, pickup["rx_number"], pickup["fill_number"]) for pickup in pickups]
    prescriptions = dict(Prescription.objects.filter(rx_key__in=keys).values_list("rx_key", "pk"))
    created = {str(client_uuid): pk for client_uuid, pk in insert_many(
        Pickup, _PICKUP, [_pickup_row(batch, pickup, prescriptions.get(key)) for pickup, key in zip(pickups, keys, strict=True)],
        suffix="ON CONFLICT (client_uuid) DO NOTHING RETURNING client_uuid, id")}
    new = [(pickup, key) for pickup, key in zip(pickups, keys, strict=True) if pickup["client_uuid"] in created]
    if not new:
        return set(), []
    taken = Prescription.objects.filter(rx_key__in=[key for _, key in new], status=PrescriptionStatus.READY).update(
        status=PrescriptionStatus.PICKED_UP, closed_at=timezone.now())
    if taken:
        _ready_list_changed(batch)
    messages_queue(batch, [(MessageKind.PICKUP, f"pickup:{pickup['client_uuid']}", _pickup_message(batch, pickup))
                           for pickup, _ in new])
    phi_accessed(actor=_register_actor(batch), action=PhiAction.WRITE, resource="pickup", location_code=code,
                 record_ids=sorted(created.values()))
    return set(created), []


def _ready_list_changed(batch: Batch) -> None:
    PharmacyStation.objects.filter(location=batch.location).update(ready_version=F("ready_version") + 1)


def _line_message(line: dict) -> dict:
    message = {"sku": line["sku"], "description": line["description"], "quantity": str(line["quantity"]),
               "unit_price": str(line["unit_price"]), "line_total": str(line["line_total"]),
               "taxable": line.get("tax_category", "standard") != "exempt"}
    if "rx" in line:
        message |= {"rx_number": line["rx"]["rx_number"], "fill_number": line["rx"]["fill_number"]}
    return message


def sales_observed(batch: Batch, sales: list[dict]) -> list[NewEvent]:
    """The sale observer: a sale with an Rx line goes to the pharmacy system whole, and each Rx
    line at a negative quantity (a return, or the void of a completed sale) as a return."""
    messages = []
    returned: list[str] = []
    for sale in sales:
        rx_lines = [line for line in sale["lines"] if "rx" in line]
        if not rx_lines:
            continue
        register = batch.terminal_name or str(batch.terminal_id or "")
        if any(line["quantity"] > 0 for line in rx_lines):
            messages.append((MessageKind.SALE, f"sale:{sale['client_uuid']}", {
                "sale_id": sale["client_uuid"], "completed_at": sale["completed_at"].isoformat(),
                "lines": [_line_message(line) for line in sale["lines"]], "subtotal": str(sale["subtotal"]),
                "tax_total": str(sale["tax_state"] + sale["tax_municipal"]), "total": str(sale["total"]),
                "payments": [{"kind": tender["kind"], "amount": str(tender["amount"])} for tender in sale["tenders"]],
                "register": register,
            }))
        for index, line in enumerate(sale["lines"]):
            if "rx" in line and line["quantity"] < 0:
                messages.append((MessageKind.RETURN, f"return:{sale['client_uuid']}:{index}", {
                    "sale_id": sale["client_uuid"], "returned_at": sale["completed_at"].isoformat(),
                    "rx_number": line["rx"]["rx_number"], "fill_number": line["rx"]["fill_number"],
                    "quantity": str(line["quantity"]), "amount": str(line["line_total"]), "register": register,
                }))
                returned.append(rx_key(batch.location.code, line["rx"]["rx_number"], line["rx"]["fill_number"]))
    if not messages:
        return []
    if returned:
        integration = pharmacy_integration(batch.location)
        manual = integration is not None and integration.definition.code in MANUAL_RESET_ON_RETURN
        Prescription.objects.filter(rx_key__in=returned).exclude(status=PrescriptionStatus.READY).update(
            status=PrescriptionStatus.RETURNED, needs_manual_reset=manual, closed_at=timezone.now())
    messages_queue(batch, messages)
    return []


def messages_queue(batch: Batch, messages: list[tuple[str, str, dict]]) -> None:
    """Number and store outbox messages (kind, source, body) for the location's relay; a source
    queued before is skipped."""
    code = batch.location.code
    PharmacyStation.objects.get_or_create(location=batch.location)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {PharmacyStation._meta.db_table} SET last_message_number = last_message_number + %s "
                       "WHERE location_id = %s RETURNING last_message_number", [len(messages), batch.location.pk])
        last = cursor.fetchone()[0]
    now = timezone.now()
    insert_many(OutboxMessage, ("message_id", "number", "location_code", "kind", "source", "body", "created_at",
                                "outcome", "error_code"), [
        (uuid.uuid4(), last - len(messages) + offset + 1, code, kind, source, _prep(OutboxMessage, "body", body), now,
         "", "")
        for offset, (kind, source, body) in enumerate(messages)
    ], suffix="ON CONFLICT (source) DO NOTHING")


def signature_image(pickup: Pickup) -> tuple[str, bytes] | None:
    """(format, bytes) of a pickup's signature, or None."""
    if not pickup.signature:
        return None
    return pickup.signature["format"], base64.b64decode(pickup.signature["data"])
