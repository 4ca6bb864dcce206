"""Encryption at rest over `cryptography`'s MultiFernet (ADR 0003).

Each key list is newest first: the first key encrypts, every key decrypts, so a key is rotated by
putting the new one in front, re-encrypting (`manage.py reencrypt_config`) and then dropping the
old one. A token no key can open raises `DecryptionFailed`: ciphertext is never returned as if it
were the value.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import connection, models, transaction

from qiiub.errors import ApplicationError


class DecryptionFailed(ApplicationError):
    code = "decryption_failed"
    http_status = 500


def multi_fernet(keys: list[str]) -> MultiFernet:
    if not keys:
        raise ApplicationError("No encryption key configured.", code="no_encryption_key")
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def config_cipher() -> MultiFernet:
    return multi_fernet(settings.FERNET_KEYS)


def encrypt_json(value: Any, cipher: MultiFernet) -> str:
    return cipher.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str, cipher: MultiFernet) -> Any:
    return json.loads(_open(token, cipher))


def _open(token: str, cipher: MultiFernet) -> bytes:
    try:
        return cipher.decrypt(token.encode())
    except InvalidToken as error:
        raise DecryptionFailed(
            "Stored data cannot be decrypted with the configured keys (FERNET_KEYS is missing the key it was written with)."
        ) from error


@lru_cache(maxsize=4096)
def _opened(token: str, keys: tuple[str, ...]) -> bytes:
    """A token's plaintext under these keys. A worker reads the same integration row for every
    event it delivers; a Fernet token is never reused for another value, so its plaintext can be
    kept (the keys are part of the key: a key taken away opens nothing from here either)."""
    return _open(token, multi_fernet(list(keys)))


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token under the key list named by `keys_setting`
    (FERNET_KEYS for configuration, PHI_KEYS for patient data); JSON types round-trip.
    `remember_plaintext` keeps opened tokens in the process (configuration, read for every delivery);
    patient data is opened afresh each read instead, so none of it lingers in a worker's memory."""

    description = "JSON encrypted with the configured Fernet keys"

    def __init__(self, *args, keys_setting: str = "FERNET_KEYS", remember_plaintext: bool = True, **kwargs):
        self.keys_setting, self.remember_plaintext = keys_setting, remember_plaintext
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.keys_setting != "FERNET_KEYS":
            kwargs["keys_setting"] = self.keys_setting
        if not self.remember_plaintext:
            kwargs["remember_plaintext"] = False
        return name, path, args, kwargs

    def _keys(self) -> list[str]:
        return getattr(settings, self.keys_setting)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        if self.remember_plaintext:
            return json.loads(_opened(value, tuple(self._keys())))  # a fresh value each read: callers may change it
        return decrypt_json(value, multi_fernet(self._keys()))

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_json(value, multi_fernet(self._keys()))

    def value_to_string(self, obj):
        # Serialization (dumpdata, fixtures) writes the token, never the plain value.
        return self.get_prep_value(self.value_from_object(obj))


ROTATION_BATCH = 500


def rotate_column(table: str, column: str, keys: list[str]) -> int:
    """Re-encrypt every token of a column under the first of `keys` (MultiFernet.rotate), batch by
    batch, in the current schema. Values are never decrypted into Python objects, so a row's
    meaning cannot change. Returns the rows seen."""
    cipher = multi_fernet(keys)
    done = 0
    last_id = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, {column} FROM {table} WHERE id > %s ORDER BY id LIMIT %s FOR UPDATE",
                [last_id, ROTATION_BATCH],
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
