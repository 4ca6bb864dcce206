"""What every writer of uploaded records shares: the batch it writes for, the multi-row insert,
and what it answers (`devices/pos_records.py` calls the writers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from django.db.models import Model

from events.publish import NewEvent
from merchants.models import Location, Merchant
from qiiub.rows import insert_many


@dataclass(frozen=True)
class Batch:
    """Where a batch goes: the merchant's schema, the location, and the uploading terminal (if any)."""

    merchant: Merchant
    location: Location
    terminal_id: int | None = None
    terminal_name: str = ""
    source: str = ""  # where the upload came from (the terminal's address), for audit trails


def insert_rows(model: type[Model], columns: tuple[str, ...], rows: list[tuple], *, idempotent: bool = False) -> dict:
    """Insert the rows in one statement. With `idempotent`, rows whose client_uuid exists are
    skipped and the created ones are returned as {client_uuid: id}."""
    if not idempotent:
        insert_many(model, columns, rows)
        return {}
    created = insert_many(model, columns, rows, suffix="ON CONFLICT (client_uuid) DO NOTHING RETURNING client_uuid, id")
    return {str(client_uuid): pk for client_uuid, pk in created}


# {client UUID: {field path in the record: [what is wrong]}}: records a writer refused.
Refusals = dict[str, dict[str, list[str]]]


class Written(NamedTuple):
    """What a writer did with its records: the client UUIDs it created, the events to publish with
    them, and the records it refused (left out: nothing of them is stored)."""

    created: set[str]
    events: list[NewEvent]
    refused: Refusals = {}
