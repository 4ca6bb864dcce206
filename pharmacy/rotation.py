"""PHI key rotation: every patient-data column of every merchant's schema re-encrypted under the
first of PHI_KEYS (put the new key in front, run this, then drop the old one)."""

from __future__ import annotations

from django.conf import settings
from django_tenants.utils import get_tenant_model, schema_context

from pharmacy.store.models import OutboxMessage, Pickup, Prescription
from qiiub.encryption import rotate_column

PHI_COLUMNS = ((Prescription, "phi"), (Pickup, "phi"), (Pickup, "signature"), (OutboxMessage, "body"))


def phi_reencrypt() -> int:
    """Returns how many rows were seen."""
    rows = 0
    for merchant in get_tenant_model().objects.exclude(schema_name="public"):
        with schema_context(merchant.schema_name):
            for model, column in PHI_COLUMNS:
                rows += rotate_column(model._meta.db_table, column, settings.PHI_KEYS)
    return rows
