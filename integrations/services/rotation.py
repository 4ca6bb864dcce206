"""Key rotation: re-encrypt every stored token under the newest key of its key list (ADR 0003)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction

from integrations.models import MerchantIntegration
from qiiub.encryption import multi_fernet
from qiiub.models import VaultSecret

BATCH_SIZE = 500


def _rotate_column(table: str, column: str, keys: list[str]) -> int:
    """MultiFernet.rotate each token in place, batch by batch; values are never decrypted into Python
    objects, so a row's meaning cannot change."""
    cipher = multi_fernet(keys)
    done = 0
    last_id = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {column} FROM {table} WHERE id > %s ORDER BY id LIMIT %s FOR UPDATE",
                [last_id, BATCH_SIZE],
            )
            rows = cursor.fetchall()
            if not rows:
                return done
            cursor.executemany(
                f"UPDATE {table} SET {column} = %s WHERE id = %s",
                [(cipher.rotate(token.encode()).decode(), row_id) for row_id, token in rows if token],
            )
            done += len(rows)
            last_id = rows[-1][0]


def encrypted_columns() -> dict[str, tuple[str, str, list[str]]]:
    """Every column holding Fernet tokens: name → (table, column, its key list, newest first)."""
    return {
        "configurations": (MerchantIntegration._meta.db_table, "configuration", settings.FERNET_KEYS),
        "secrets": (VaultSecret._meta.db_table, "ciphertext", settings.VAULT_LOCAL_KEYS),
    }


def reencrypt_all() -> dict[str, int]:
    return {name: _rotate_column(*column) for name, column in encrypted_columns().items()}
