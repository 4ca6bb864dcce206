"""Results up (`POST /api/pos/v1/uploads`): a batch of records from one terminal.

The card guard runs over the whole batch first: a card number anywhere refuses the batch (422)
and nothing of it is stored. Then each record is checked on its own: invalid ones are reported with
their reasons, valid ones are stored, in one transaction, with their events; one the merchant's data
refuses (a SKU not in the catalog, say) is reported with its reason too. A record whose client
UUID was stored before is reported `duplicate` and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from devices.models import Terminal
from devices.pos_records import Batch, Stored, records_store
from devices.records import MAX_SIGNATURE_BYTES, record_checked, signature_too_large
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import ApplicationError, ValidationFailed

logger = logging.getLogger(__name__)

MAX_RECORDS = 500  # per upload: a day of a busy till in a few requests, and a bounded transaction
MAX_BODY_BYTES = 5 * 1024 * 1024  # 500 large sales fit well within this


class BatchTooLarge(ApplicationError):
    code = "batch_too_large"
    http_status = 413


class SignatureTooLarge(ApplicationError):
    code = "signature_too_large"
    http_status = 413


@dataclass
class RecordResult:
    index: int
    client_uuid: str | None
    type: str | None
    status: str  # stored / duplicate / rejected
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        result = {"index": self.index, "client_uuid": self.client_uuid, "type": self.type, "status": self.status}
        if self.errors:
            result["errors"] = self.errors
        return result


def _records(body: Any) -> list:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ValidationFailed('Send a JSON object with a "records" list.',
                               field_errors={"records": ["This field is required and must be a list."]})
    if unknown := [name for name in body if name != "records"]:
        raise ValidationFailed('An upload carries only its "records" list.',
                               field_errors={name: [_("Not a field of an upload.")] for name in unknown})
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise BatchTooLarge(f"At most {MAX_RECORDS} records per upload; this one has {len(records)}. "
                            "Split it into smaller uploads.", extra={"field_errors": {"records": [
                                f"At most {MAX_RECORDS} records."]}})
    for index, record in enumerate(records):
        if signature_too_large(record):
            limit = MAX_SIGNATURE_BYTES // 1024
            raise SignatureTooLarge(
                f"A signature image may be at most {limit} KB; record {index} carries a larger one. "
                "Nothing of this upload was stored.",
                extra={"field_errors": {f"records[{index}].signature.data": [f"At most {limit} KB."]}})
    return records


def _with_prefix(index: int, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """A record's errors with paths from the upload's root (`records[3].sku`)."""
    prefix = f"records[{index}]"
    return {f"{prefix}.{path}" if path else prefix: messages for path, messages in errors.items()}


def upload_ingest(*, terminal: Terminal, body: Any, source: str = "") -> list[RecordResult]:
    """Check and store one upload; returns one result per record, in order."""
    ensure_no_card_data(body)  # first, over everything sent: no refusal may quote card data back
    records = _records(body)
    results: list[RecordResult] = []
    valid: dict[str, list[dict]] = {}
    pending: list[RecordResult] = []
    seen: set[str] = set()
    for index, record in enumerate(records):
        normalized, errors = record_checked(record)
        client_uuid = record.get("client_uuid") if isinstance(record, dict) else None
        record_type = record.get("type") if isinstance(record, dict) else None
        result = RecordResult(index, client_uuid if isinstance(client_uuid, str) else None,
                              record_type if isinstance(record_type, str) else None, "rejected")
        results.append(result)
        if errors:
            result.errors = _with_prefix(index, errors)
            continue
        result.client_uuid = normalized["client_uuid"] = normalized["client_uuid"].lower()
        if result.client_uuid in seen:
            result.status = "duplicate"  # the same record twice in one batch: stored once
            continue
        seen.add(result.client_uuid)
        valid.setdefault(normalized["type"], []).append(normalized)
        pending.append(result)
    location = terminal.location
    stored = records_store(batch=Batch(location.merchant, location, terminal.pk, terminal.name, source),
                           records=valid) if valid else Stored(set(), {})
    for result in pending:
        if errors := stored.refused.get(result.client_uuid):
            result.errors = _with_prefix(result.index, errors)
        else:
            result.status = "stored" if result.client_uuid in stored.created else "duplicate"
    logger.info("pos.upload", extra={
        "terminal_id": terminal.pk, "records": len(records), "stored": len(stored.created),
        "rejected": sum(result.status == "rejected" for result in results),
    })
    return results
