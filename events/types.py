"""The registry of domain event types: the only place an event type is named."""

from __future__ import annotations

from dataclasses import dataclass

from qiiub.errors import ValidationFailed


@dataclass(frozen=True)
class EventType:
    code: str
    description: str


SALE_COMPLETED = EventType("sale.completed", "A sale was completed at a POS terminal.")
PRODUCT_UPDATED = EventType("product.updated", "A product's name, price or tax category changed.")
INVENTORY_CHANGED = EventType("inventory.changed", "A product's on-hand quantity changed at a location.")
CUSTOMER_CREATED = EventType("customer.created", "A customer was created.")
SHIFT_CLOSED = EventType("shift.closed", "A cashier shift was closed.")

EVENT_TYPES: dict[str, EventType] = {
    event.code: event for event in (SALE_COMPLETED, PRODUCT_UPDATED, INVENTORY_CHANGED, CUSTOMER_CREATED, SHIFT_CLOSED)
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
