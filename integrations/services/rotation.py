"""Key rotation: re-encrypt every stored token under the newest key of its key list (ADR 0003)."""

from __future__ import annotations

from django.conf import settings

from integrations.models import MerchantIntegration
from qiiub.encryption import rotate_column
from qiiub.models import VaultSecret


def encrypted_columns() -> dict[str, tuple[str, str, list[str]]]:
    """Every column holding Fernet tokens: name → (table, column, its key list, newest first)."""
    return {
        "configurations": (MerchantIntegration._meta.db_table, "configuration", settings.FERNET_KEYS),
        "secrets": (VaultSecret._meta.db_table, "ciphertext", settings.VAULT_LOCAL_KEYS),
    }


def reencrypt_all() -> dict[str, int]:
    return {name: rotate_column(*column) for name, column in encrypted_columns().items()}
