"""Key rotation: re-encrypt every stored token under the newest key of its key list (ADR 0003),
in the public schema and in every merchant's (its customers' contact details)."""

from __future__ import annotations

from django.conf import settings
from django_tenants.utils import get_public_schema_name, get_tenant_model, schema_context

from integrations.models import MerchantIntegration
from merchants.store.models import Customer
from qiiub.encryption import rotate_column
from qiiub.models import VaultSecret


def encrypted_columns() -> dict[str, tuple[str, str, list[str]]]:
    """Every column holding Fernet tokens: name → (table, column, its key list, newest first)."""
    return {
        "configurations": (MerchantIntegration._meta.db_table, "configuration", settings.FERNET_KEYS),
        "secrets": (VaultSecret._meta.db_table, "ciphertext", settings.VAULT_LOCAL_KEYS),
    }


def reencrypt_all() -> dict[str, int]:
    counts = {name: rotate_column(*column) for name, column in encrypted_columns().items()}
    counts["customer contacts"] = 0
    for merchant in get_tenant_model().objects.exclude(schema_name=get_public_schema_name()):
        with schema_context(merchant.schema_name):
            counts["customer contacts"] += rotate_column(Customer._meta.db_table, "contact", settings.FERNET_KEYS)
    return counts
