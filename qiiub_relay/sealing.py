"""The relay's X25519 key pair and the sealed credentials (docs/pharmacy-relay.md): the hub seals the
pharmacy system's credentials to the relay's public key, so only the relay that holds the private key
can open them, and they never travel or rest in the clear."""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"qiiub-relay-credentials-v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class SealedCredentialsInvalid(Exception):
    """The sealed credentials cannot be opened with this key (another relay's, or damaged). The message
    never quotes the sealed text."""


def write_private_file(path: Path, data: bytes) -> None:
    """Writes a file only this relay's user can read, whole or not at all (temporary file, fsync,
    rename), so a kill never leaves half a key or token behind."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    if hasattr(os, "O_DIRECTORY"):
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def generate_private_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def save_private_key(path: Path, private_key: X25519PrivateKey) -> None:
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private_file(path, pem)


def load_private_key(path: Path) -> X25519PrivateKey:
    private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private_key, X25519PrivateKey):
        raise ValueError(f"{path} does not hold an X25519 private key")
    return private_key


def public_key_b64(private_key: X25519PrivateKey) -> str:
    """The public half as the enrollment sends it: 32 raw bytes, base64."""
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _sealing_key(shared_secret: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=INFO).derive(shared_secret)


def seal(public_key: str, obj: dict) -> str:
    """Seals a JSON object to a relay's public key (base64): what the hub does with the credentials."""
    recipient = X25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
    ephemeral = X25519PrivateKey.generate()
    nonce = os.urandom(NONCE_BYTES)
    plaintext = json.dumps(obj, separators=(",", ":")).encode()
    ciphertext = AESGCM(_sealing_key(ephemeral.exchange(recipient))).encrypt(nonce, plaintext, None)
    ephemeral_public = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(ephemeral_public + nonce + ciphertext).decode("ascii")


def open_sealed(private_key: X25519PrivateKey, sealed: str) -> dict:
    """The credentials' JSON object; SealedCredentialsInvalid if they were not sealed to this key or
    were damaged on the way (AES-GCM authenticates them)."""
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError, TypeError) as error:
        raise SealedCredentialsInvalid("the sealed credentials are not base64") from error
    if len(raw) < KEY_BYTES + NONCE_BYTES + TAG_BYTES:
        raise SealedCredentialsInvalid("the sealed credentials are too short")
    ephemeral = X25519PublicKey.from_public_bytes(raw[:KEY_BYTES])
    nonce, ciphertext = raw[KEY_BYTES : KEY_BYTES + NONCE_BYTES], raw[KEY_BYTES + NONCE_BYTES :]
    try:
        shared_secret = private_key.exchange(ephemeral)
        plaintext = AESGCM(_sealing_key(shared_secret)).decrypt(nonce, ciphertext, None)
    except (InvalidTag, ValueError) as error:
        raise SealedCredentialsInvalid("the sealed credentials do not open with this relay's key") from error
    try:
        credentials = json.loads(plaintext)
    except ValueError:
        raise SealedCredentialsInvalid("the sealed credentials are not JSON") from None  # the error quotes them
    if not isinstance(credentials, dict):
        raise SealedCredentialsInvalid("the sealed credentials are not a JSON object")
    return credentials
