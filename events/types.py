"""The registry of domain event types: the only place an event type is named."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from qiiub.errors import ValidationFailed


@dataclass(frozen=True)
class EventType:
    code: str
    description: str | Promise  # read in the reader's language (the webhooks page lists them)


SALE_COMPLETED = EventType("sale.completed", _("A sale was completed at a POS terminal."))
PRODUCT_UPDATED = EventType("product.updated", _("A product's name, price or tax category changed."))
INVENTORY_CHANGED = EventType("inventory.changed", _("A product's on-hand quantity changed at a location."))
CUSTOMER_CREATED = EventType("customer.created", _("A customer was created at a POS terminal."))
CUSTOMER_UPDATED = EventType("customer.updated", _(
    "A customer's name, email, phone or marketing consent was changed at a POS terminal."))
SHIFT_CLOSED = EventType("shift.closed", _("A cashier shift was closed."))
REFUND_SUCCEEDED = EventType("refund.succeeded", _(
    "A card tender was refunded from the portal, through its processor; its return is recorded as a sale."))

EVENT_TYPES: dict[str, EventType] = {
    event.code: event
    for event in (SALE_COMPLETED, PRODUCT_UPDATED, INVENTORY_CHANGED, CUSTOMER_CREATED, CUSTOMER_UPDATED, SHIFT_CLOSED,
                  REFUND_SUCCEEDED)
}


class UnknownEventType(ValidationFailed):
    code = "unknown_event_type"


def event_type(code: str) -> EventType:
    try:
        return EVENT_TYPES[code]
    except KeyError:
        raise UnknownEventType(
            f"Unknown event type '{code}'. Known types: {', '.join(sorted(EVENT_TYPES))}.",
            field_errors={"event_type": [f"'{code}' is not a known event type."]},
        ) from None
