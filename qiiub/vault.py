"""The secret vault port: secrets live here; the database keeps only the vault key.

`local` (default) keeps each secret encrypted under its own key list (`VAULT_LOCAL_KEYS`, separate
from the configuration keys); `azure` stores it in Azure Key Vault. Picked by `VAULT_BACKEND`.
"""

from __future__ import annotations

import json
import time
import uuid
from functools import lru_cache
from typing import Protocol

from django.conf import settings

from qiiub.encryption import decrypt_json, encrypt_json, multi_fernet
from qiiub.errors import ApplicationError, NotFound


class VaultUnavailable(ApplicationError):
    code = "vault_unavailable"
    http_status = 503


class SecretVault(Protocol):
    def put(self, key: str, secret: dict) -> None: ...

    def get(self, key: str) -> dict: ...

    def delete(self, key: str) -> None: ...


def new_vault_key(prefix: str) -> str:
    # Azure Key Vault names allow only letters, digits and dashes.
    return f"{prefix}-{uuid.uuid4().hex}"


class LocalVault:
    def _cipher(self):
        return multi_fernet(settings.VAULT_LOCAL_KEYS)

    def put(self, key: str, secret: dict) -> None:
        from qiiub.models import VaultSecret

        VaultSecret.objects.update_or_create(key=key, defaults={"ciphertext": encrypt_json(secret, self._cipher())})

    def get(self, key: str) -> dict:
        from qiiub.models import VaultSecret

        row = VaultSecret.objects.filter(key=key).first()
        if row is None:
            raise NotFound("No secret is stored under this vault key.", code="secret_not_found")
        return decrypt_json(row.ciphertext, self._cipher())

    def delete(self, key: str) -> None:
        from qiiub.models import VaultSecret

        VaultSecret.objects.filter(key=key).delete()


class AzureKeyVault:
    """Azure Key Vault through `azure-keyvault-secrets`; a secret is stored as one JSON string."""

    # A vault outage must fail a request in seconds, not after the SDK's default minutes of retries.
    DEFAULT_CLIENT_OPTIONS = {"retry_total": 3, "retry_backoff_max": 10, "connection_timeout": 5, "read_timeout": 10}

    def __init__(self, vault_url: str, credential=None, **client_options):
        from azure.keyvault.secrets import SecretClient

        if not vault_url:
            raise ApplicationError("AZURE_KEY_VAULT_URL is not set.", code="vault_misconfigured")
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self.client = SecretClient(
            vault_url=vault_url, credential=credential, **{**self.DEFAULT_CLIENT_OPTIONS, **client_options}
        )

    def put(self, key: str, secret: dict) -> None:
        from azure.core.exceptions import AzureError

        try:
            self.client.set_secret(key, json.dumps(secret), content_type="application/json")
        except AzureError as error:
            raise VaultUnavailable("The secret vault could not store the secret.") from error

    def get(self, key: str) -> dict:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            return json.loads(self.client.get_secret(key).value)
        except (ValueError, TypeError) as error:
            raise VaultUnavailable("The secret in the vault is not valid JSON.") from error
        except ResourceNotFoundError as error:
            raise NotFound("No secret is stored under this vault key.", code="secret_not_found") from error
        except AzureError as error:
            raise VaultUnavailable("The secret vault could not be read.") from error

    def delete(self, key: str) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            self.client.begin_delete_secret(key)
        except ResourceNotFoundError:
            return
        except AzureError as error:
            raise VaultUnavailable("The secret vault could not delete the secret.") from error


@lru_cache(maxsize=4)
def _vault_for(backend: str, azure_url: str) -> SecretVault:
    if backend == "local":
        return LocalVault()
    if backend == "azure":
        return AzureKeyVault(azure_url)
    raise ApplicationError(f"Unknown VAULT_BACKEND '{backend}' (use 'local' or 'azure').", code="vault_misconfigured")


def get_vault() -> SecretVault:
    return _vault_for(settings.VAULT_BACKEND, settings.AZURE_KEY_VAULT_URL)


SECRET_CACHE_TTL_S = 60.0  # vault keys are never reused (a change writes a new key), so a short cache is safe
_secret_cache: dict[str, tuple[float, dict]] = {}


def read_secret(key: str) -> dict:
    """A secret for use (connectors, signing): cached briefly in this process, since a worker
    reads the same credentials for every delivery. Never use it to check that a secret is gone."""
    now = time.monotonic()
    cached = _secret_cache.get(key)
    if cached and cached[0] > now:
        return cached[1]
    secret = get_vault().get(key)
    if len(_secret_cache) > 1024:
        _secret_cache.clear()
    _secret_cache[key] = (now + SECRET_CACHE_TTL_S, secret)
    return secret
