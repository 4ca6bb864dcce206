"""Production-looking settings for processes these tests start: fresh keys, none of the development ones."""

import secrets

import pytest
from cryptography.fernet import Fernet


@pytest.fixture(scope="session")
def production_env(process_env) -> dict[str, str]:
    return {
        **process_env,
        "QIIUB_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FERNET_KEYS": Fernet.generate_key().decode(),
        "VAULT_LOCAL_KEYS": Fernet.generate_key().decode(),
        "PHI_KEYS": Fernet.generate_key().decode(),
        "PHI_INDEX_KEY": secrets.token_urlsafe(32),
        "QBO_CLIENT_SECRET": secrets.token_urlsafe(16),
        "XERO_CLIENT_SECRET": secrets.token_urlsafe(16),
    }


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
