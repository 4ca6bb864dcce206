"""What a merchant is shown of card data discovery: events holding a card number that were already
delivered, until an admin of the merchant says the receivers were asked to delete them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from compliance.models import CardScanHit
from events.models import OutboxEvent


@dataclass
class DeliveredCardEvent:
    event_id: str
    event_type: str
    created_at: datetime | None
    receivers: list[str]
    last4: str
    masked_here: bool  # QIIUB's own copy is masked already
    found_at: datetime


def delivered_card_events(merchant) -> list[DeliveredCardEvent]:
    event_hits = CardScanHit.objects.filter(merchant=merchant, table=OutboxEvent._meta.db_table).exclude(delivered_to=[])
    # Acknowledged once, an event stays acknowledged: the weekly scan finds it again until it is masked.
    acknowledged = event_hits.filter(acknowledged_at__isnull=False).values("row_key")
    hits = list(
        event_hits.exclude(row_key__in=acknowledged)
        .select_related("scan")
        .order_by("row_key", "-scan__started_at")
        .distinct("row_key")
    )
    events = OutboxEvent.objects.in_bulk([uuid.UUID(hit.row_key) for hit in hits])
    found = []
    for hit in hits:  # the newest scan's hit for each event: masked, if a scan masked it
        event = events.get(uuid.UUID(hit.row_key))
        found.append(DeliveredCardEvent(
            event_id=hit.row_key, event_type=event.event_type if event else "",
            created_at=event.created_at if event else None, receivers=hit.delivered_to, last4=hit.shown[-4:],
            masked_here=hit.redacted, found_at=hit.scan.started_at,
        ))
    return sorted(found, key=lambda item: item.found_at, reverse=True)
