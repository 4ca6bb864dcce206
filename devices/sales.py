"""Recording one POS sale with its `sale.completed` event, for callers other than the upload API
(which stores whole batches through `devices.uploads`). The same checks and the same writer."""

from __future__ import annotations

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
    created = records_store(batch=Batch(merchant, location, terminal_id), records={"sale": [normalized]})
    return normalized["client_uuid"], normalized["client_uuid"] in created


def write_sale(*, merchant: Merchant, location: Location, sale: dict) -> tuple[str, bool]:
    """The business write alone, with no event: only to measure what publishing costs (bench/)."""
    normalized = _checked(sale)
    created = records_store(batch=Batch(merchant, location), records={"sale": [normalized]}, publish=False)
    return normalized["client_uuid"], normalized["client_uuid"] in created
