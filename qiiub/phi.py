"""Protected health information at rest (DESIGN.md D11): its own keys, apart from the database's.

`PhiField` stores a JSON value encrypted under PHI_KEYS (newest first; `manage.py reencrypt_phi`
rotates). `phi_index` is a keyed hash (HMAC-SHA256 under PHI_INDEX_KEY) of identifying values, so
an Rx is found by its number and fill without the number being stored in clear: the hash cannot be
reversed or recomputed without the key, which is not in the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import partial

from django.conf import settings

from qiiub.encryption import EncryptedJSONField

PhiField = partial(EncryptedJSONField, keys_setting="PHI_KEYS", remember_plaintext=False)

# The names patient data goes by, in a PhiField's JSON (pharmacy/store/models.py) and in the relay's
# and registers' payloads: a log line or an error report drops a value under any of them.
PHI_FIELD_NAMES = frozenset({
    "patient_name", "picked_up_by", "rx_number", "fill_number", "flag_messages", "id_type", "id_last4",
    "signature", "phi",
})


def phi_index(*parts: object) -> str:
    """The keyed hash of `parts` (joined unambiguously): equal parts, equal hash. In base64, not
    hex: hex has runs of 13+ decimal digits often enough (1 in ~2,000) that the card data scan
    would report, and `--redact` mask, a lookup key."""
    message = "\x1f".join(str(part) for part in parts).encode()
    digest = hmac.new(settings.PHI_INDEX_KEY.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _rx(rx_number: str) -> str:
    # Rx numbers are compared without case or dashes, as a register may scan or type them either way.
    return rx_number.replace("-", "").upper()


def rx_key(location_code: str, rx_number: str, fill_number: int) -> str:
    """How one fill of a prescription of a location is found."""
    return phi_index("rx", location_code, _rx(rx_number), int(fill_number))


def rx_base_key(location_code: str, rx_number: str) -> str:
    """How every fill of a prescription is found (a label barcode without the fill)."""
    return phi_index("rx-base", location_code, _rx(rx_number))
