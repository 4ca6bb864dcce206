"""A merchant admin's answer to card data found in delivered events."""

from __future__ import annotations

import logging

from django.utils import timezone

from compliance.models import CardScanHit
from events.models import OutboxEvent

logger = logging.getLogger(__name__)


def delivered_card_events_acknowledge(*, merchant, by) -> int:
    """Record that the receivers were asked to delete the events listed: they leave the merchant's page."""
    count = CardScanHit.objects.filter(
        merchant=merchant, table=OutboxEvent._meta.db_table, acknowledged_at__isnull=True
    ).exclude(delivered_to=[]).update(acknowledged_at=timezone.now(), acknowledged_by=by)
    logger.info("card_scan.delivered_events_acknowledged", extra={"merchant_id": merchant.pk, "hits": count})
    return count
