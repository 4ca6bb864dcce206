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
from django.db import models

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
    """A JSON value stored as a Fernet token; JSON types (numbers, booleans, null) round-trip."""

    description = "JSON encrypted with the configured Fernet keys"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return json.loads(_opened(value, tuple(settings.FERNET_KEYS)))  # a fresh value each read: callers may change it

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return encrypt_json(value, config_cipher())

    def value_to_string(self, obj):
        # Serialization (dumpdata, fixtures) writes the token, never the plain value.
        return self.get_prep_value(self.value_from_object(obj))
