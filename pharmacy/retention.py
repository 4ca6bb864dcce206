"""Retention of patient data (DESIGN.md D18): what is kept, and for how long.

- A prescription that left the ready list: its patient data is purged PHARMACY_READY_RETENTION_DAYS
  after it left (the pickup log keeps what an audit needs).
- Outbox messages the pharmacy system has settled, and the ids of changes received: as long.
- Pickups with their signatures: until their `keep_until` (10 years: Medicare Part D audits).
- The PHI access log: PHI_ACCESS_RETENTION_YEARS (at least 6, which the database enforces too).

Each purge is itself written to the access log."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from merchants.models import Merchant
from pharmacy.audit import HUB, phi_accessed
from pharmacy.store.models import (
    OutboxMessage,
    PhiAccess,
    PhiAction,
    Pickup,
    Prescription,
    PrescriptionStatus,
    ReceivedChange,
)


def _years_ago(now, years: int):
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


def merchant_retention_apply(merchant: Merchant, now=None) -> dict[str, int]:
    """Purge what is past its retention in one merchant's schema; returns what was purged."""
    now = now or timezone.now()
    settled_before = now - timedelta(days=settings.PHARMACY_READY_RETENTION_DAYS)
    with transaction.atomic(), schema_context(merchant.schema_name):
        purged = {
            "prescriptions": Prescription.objects.exclude(status=PrescriptionStatus.READY)
            .filter(closed_at__lt=settled_before).delete()[0],
            "outbox_messages": OutboxMessage.objects.filter(finished_at__lt=settled_before).delete()[0],
            "received_changes": ReceivedChange.objects.filter(received_at__lt=settled_before).delete()[0],
            "pickups": Pickup.objects.filter(keep_until__lt=now.date()).delete()[0],
            "phi_access": PhiAccess.objects.filter(
                at__lt=_years_ago(now, settings.PHI_ACCESS_RETENTION_YEARS)).delete()[0],
        }
        for resource in ("prescriptions", "outbox_messages", "pickups"):
            if purged[resource]:
                phi_accessed(actor=HUB, action=PhiAction.PURGE, resource=resource, count=purged[resource])
    return purged


def retention_sweep(now=None) -> dict[str, int]:
    """Apply retention in every merchant with a pharmacy (a location with a relay station)."""
    totals: dict[str, int] = {}
    merchants = Merchant.objects.filter(locations__pharmacy_station__isnull=False).distinct()
    for merchant in merchants:
        for resource, count in merchant_retention_apply(merchant, now).items():
            totals[resource] = totals.get(resource, 0) + count
    return totals
