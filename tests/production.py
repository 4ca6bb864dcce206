"""Production-looking settings for the processes tests start: fresh keys, none of the development ones."""

import secrets

from cryptography.fernet import Fernet


def production_keys() -> dict[str, str]:
    """`QIIUB_ENV=production` with every key production asks for, each new."""
    return {
        "QIIUB_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "VAULT_LOCAL_KEYS": Fernet.generate_key().decode(),
        "PHI_KEYS": Fernet.generate_key().decode(),
        "PHI_INDEX_KEY": secrets.token_urlsafe(32),
        "QBO_CLIENT_SECRET": secrets.token_urlsafe(16),
        "XERO_CLIENT_SECRET": secrets.token_urlsafe(16),
    }
