"""Recording POS records for callers other than the upload API (which stores whole batches from a
terminal through `devices.uploads`): a sale with its `sale.completed` event, or records of any type
(the demo's stock counts and customers). The same checks and the same writers."""

from __future__ import annotations

from django.db import transaction

from devices.pos_records import Batch, records_store
from devices.records import record_checked
from merchants.models import Location, Merchant
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import ValidationFailed


def _checked(sale: dict) -> dict:
    ensure_no_card_data(sale, "sale")
    normalized, errors = record_checked({"type": "sale", **sale})
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed(f"The sale is not valid: {first}",
                               field_errors={f"sale.{path}" if path else "sale": messages
                                             for path, messages in errors.items()})
    return normalized


def sale_record(*, merchant: Merchant, location: Location, sale: dict, terminal_id: int | None = None) -> tuple[str, bool]:
    """Write the sale (lines, IVU lines, tenders) and publish `sale.completed` in one transaction.
    Returns (client UUID, created); a sale whose client UUID exists already changes nothing."""
    normalized = _checked(sale)
    created = records_store(batch=Batch(merchant, location, terminal_id), records={"sale": [normalized]}).created
    return normalized["client_uuid"], normalized["client_uuid"] in created


def write_sale(*, merchant: Merchant, location: Location, sale: dict) -> tuple[str, bool]:
    """The business write alone, with no event: only to measure what publishing costs (bench/)."""
    normalized = _checked(sale)
    created = records_store(batch=Batch(merchant, location), records={"sale": [normalized]}, publish=False).created
    return normalized["client_uuid"], normalized["client_uuid"] in created


def records_record(*, merchant: Merchant, location: Location, records: list[dict]) -> set[str]:
    """Check and store records of any type at `location`, as a terminal's upload would, all or none:
    a record that is not valid, or that the merchant's data refuses, raises ValidationFailed and
    nothing is stored. Returns the client UUIDs created (the others existed already)."""
    ensure_no_card_data(records, "records")
    checked: dict[str, list[dict]] = {}
    for index, record in enumerate(records):
        normalized, errors = record_checked(record)
        if errors:
            _refuse(index, errors)
        normalized["client_uuid"] = normalized["client_uuid"].lower()
        checked.setdefault(normalized["type"], []).append(normalized)
    with transaction.atomic():
        stored = records_store(batch=Batch(merchant, location), records=checked)
        if stored.refused:
            index, errors = next((index, stored.refused[record["client_uuid"].lower()])
                                 for index, record in enumerate(records) if record["client_uuid"].lower() in stored.refused)
            _refuse(index, errors)
    return stored.created


def _refuse(index: int, errors: dict[str, list[str]]) -> None:
    first = next(iter(errors.values()))[0]
    raise ValidationFailed(f"Record {index} is not valid: {first}",
                           field_errors={f"records[{index}].{path}" if path else f"records[{index}]": messages
                                         for path, messages in errors.items()})
