"""The relay's side of the outbox: take the messages waiting for the pharmacy system, in order,
and acknowledge what became of them. A message is handed out until it is acknowledged, so a relay
killed between the two hands it on again and the pharmacy system's idempotency (by message id or
number) makes the repeat change nothing."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context
from jsonschema import Draft202012Validator

from merchants.models import Location
from pharmacy.audit import Actor, phi_accessed
from pharmacy.store.models import MessageOutcome, OutboxMessage, PhiAction
from qiiub.errors import ValidationFailed
from qiiub.schemas import schema_errors_from

MAX_FETCH = 100
ACKS_REQUEST = {"type": "object", "additionalProperties": False, "required": ["acks"], "properties": {
    "acks": {"type": "array", "maxItems": 500, "items": {
        "type": "object", "additionalProperties": False, "required": ["id", "outcome"],
        "properties": {
            "id": {"type": "string", "format": "uuid",
                   "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
            "outcome": {"type": "string", "enum": [MessageOutcome.DELIVERED, MessageOutcome.REFUSED]},
            "error_code": {"type": "string", "pattern": "^[a-z0-9_.:-]{1,60}$"},
        }}}}}


def limit_checked(values: list[str]) -> int:
    """The `limit` query parameter: one whole number from 1 to MAX_FETCH, MAX_FETCH if absent."""
    if not values:
        return MAX_FETCH
    if len(values) == 1 and values[0].isdigit() and 1 <= int(values[0]) <= MAX_FETCH:
        return int(values[0])
    raise ValidationFailed(_("The limit is a whole number from 1 to %(most)s.") % {"most": MAX_FETCH},
                           field_errors={"limit": [_("From 1 to %(most)s.") % {"most": MAX_FETCH}]})


def _as_sent(message: OutboxMessage) -> dict:
    return {"id": str(message.message_id), "number": message.number, "kind": message.kind,
            "created_at": message.created_at.isoformat(), "body": message.body}


def outbox_fetch(*, location: Location, actor: Actor, limit: int = MAX_FETCH) -> list[dict]:
    """The oldest messages not yet acknowledged, in order (an audited read)."""
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        messages = list(OutboxMessage.objects.filter(location_code=location.code, outcome=MessageOutcome.PENDING)
                        .order_by("number")[:limit])
        if messages:
            OutboxMessage.objects.filter(pk__in=[message.pk for message in messages],
                                         fetched_at__isnull=True).update(fetched_at=timezone.now())
            phi_accessed(actor=actor, action=PhiAction.READ, resource="outbox", location_code=location.code,
                         record_ids=[message.pk for message in messages])
        return [_as_sent(message) for message in messages]


@cache
def _acks_validator() -> Draft202012Validator:
    return Draft202012Validator(ACKS_REQUEST)


def acks_checked(body: Any) -> list[dict]:
    if errors := schema_errors_from(_acks_validator(), body, unknown_field=_("Not a field of this request.")):
        raise ValidationFailed(_("The acknowledgements are not valid: none was recorded."), field_errors=errors)
    return body["acks"]


def outbox_acknowledge(*, location: Location, acks: list[dict]) -> int:
    """Record what the pharmacy system did with each message; an acknowledgement repeated (or of
    another location's message) changes nothing. Returns how many were recorded now."""
    now = timezone.now()
    recorded = 0
    with transaction.atomic(), schema_context(location.merchant.schema_name):
        for ack in acks:
            recorded += OutboxMessage.objects.filter(
                message_id=uuid.UUID(ack["id"]), location_code=location.code, outcome=MessageOutcome.PENDING,
            ).update(outcome=ack["outcome"], error_code=ack.get("error_code", "")[:60], finished_at=now)
    return recorded
