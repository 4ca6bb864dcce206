"""`AzureKeyVault` against a local fake of the Key Vault secrets REST API (HTTPS, bearer challenge)."""

from __future__ import annotations

import json
import time

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo

import qiiub.vault
from qiiub.errors import ApplicationError, NotFound
from qiiub.vault import AzureKeyVault, VaultUnavailable, new_vault_key
from simulators.azure_keyvault import DEFAULT_TENANT_ID, FakeKeyVault

pytestmark = pytest.mark.security

TOKEN = "fake-access-token"


class FixedTokenCredential:
    """The smallest credential the SDK accepts: one fixed token, remembering what it was asked for."""

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.requests: list[tuple[tuple[str, ...], dict]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.requests.append((scopes, kwargs))
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options=None) -> AccessTokenInfo:
        self.requests.append((scopes, dict(options or {})))
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


@pytest.fixture
def fake_vault():
    vault = FakeKeyVault(accepted_token=TOKEN).start()
    yield vault
    vault.stop()


@pytest.fixture
def credential():
    return FixedTokenCredential()


@pytest.fixture
def azure_vault(fake_vault, credential):
    return AzureKeyVault(vault_url=fake_vault.url, credential=credential, **fake_vault.client_options())


def test_a_stored_secret_reads_back_as_the_same_dict(azure_vault):
    # given
    key = new_vault_key("conn")
    secret = {"api_key": "s3cr3t", "port": 8443, "ratio": 0.5, "enabled": True, "scopes": ["read", "write"]}

    # when
    azure_vault.put(key, secret)
    read = azure_vault.get(key)

    # then
    assert read == secret
    assert isinstance(read["port"], int) and isinstance(read["ratio"], float)


def test_the_vault_stores_one_json_string_with_a_json_content_type_behind_a_bearer_token(
    azure_vault, fake_vault, credential
):
    # given
    key = new_vault_key("conn")

    # when
    azure_vault.put(key, {"password": "hunter2", "retries": 3})

    # then the value is the JSON text, typed as JSON
    assert json.loads(fake_vault.stored_value(key)) == {"password": "hunter2", "retries": 3}
    assert fake_vault.stored_content_type(key) == "application/json"
    # and the SDK ran the challenge: a bodiless unauthenticated probe, then the real request with the token
    probe, stored = fake_vault.requests
    assert (probe.method, probe.path, probe.has_auth, probe.body, probe.status) == (
        "PUT",
        f"/secrets/{key}",
        False,
        None,
        401,
    )
    assert (stored.method, stored.path, stored.token, stored.status) == ("PUT", f"/secrets/{key}", TOKEN, 200)
    assert stored.body == {
        "value": json.dumps({"password": "hunter2", "retries": 3}),
        "contentType": "application/json",
    }
    assert all(request.api_version for request in fake_vault.requests)
    # and the token was asked for the vault resource in the tenant named by the challenge
    scopes, options = credential.requests[0]
    assert scopes == ("https://vault.azure.net/.default",)
    assert options["tenant_id"] == DEFAULT_TENANT_ID


def test_reading_a_missing_key_raises_secret_not_found(azure_vault):
    # given
    key = new_vault_key("missing")

    # when
    with pytest.raises(NotFound) as raised:
        azure_vault.get(key)

    # then
    assert raised.value.code == "secret_not_found"
    assert raised.value.http_status == 404


def test_a_deleted_secret_can_no_longer_be_read(azure_vault, fake_vault):
    # given
    key = new_vault_key("conn")
    azure_vault.put(key, {"token": "abc"})

    # when
    azure_vault.delete(key)

    # then
    with pytest.raises(NotFound) as raised:
        azure_vault.get(key)
    assert raised.value.code == "secret_not_found"
    assert ("DELETE", f"/secrets/{key}", True, 200) in [
        (request.method, request.path, request.has_auth, request.status) for request in fake_vault.requests
    ]


def test_deleting_a_missing_key_is_quiet(azure_vault, fake_vault):
    # given
    key = new_vault_key("missing")

    # when
    azure_vault.delete(key)

    # then the vault was asked and answered 404, which is not an error
    assert [(request.method, request.status) for request in fake_vault.authorized_requests()] == [("DELETE", 404)]


@pytest.mark.parametrize("status", [500, 503])
def test_a_failing_vault_raises_vault_unavailable_on_every_operation(azure_vault, fake_vault, status):
    # given
    key = new_vault_key("conn")
    azure_vault.put(key, {"token": "abc"})
    fake_vault.fail_with(status)

    # when / then
    for operation in (lambda: azure_vault.get(key), lambda: azure_vault.put(key, {}), lambda: azure_vault.delete(key)):
        with pytest.raises(VaultUnavailable) as raised:
            operation()
        assert raised.value.code == "vault_unavailable"
        assert raised.value.http_status == 503


def test_a_failed_read_is_not_retried_when_retries_are_off(azure_vault, fake_vault):
    # given
    key = new_vault_key("conn")
    azure_vault.put(key, {"token": "abc"})
    fake_vault.fail_with(503)
    before = len(fake_vault.requests)

    # when
    with pytest.raises(VaultUnavailable):
        azure_vault.get(key)

    # then
    assert len(fake_vault.requests) == before + 1


def test_a_vault_whose_certificate_is_not_trusted_is_unavailable(fake_vault, credential):
    # given a client without the fake's certificate as trust anchor
    options = {**fake_vault.client_options()}
    options.pop("connection_verify")
    vault = AzureKeyVault(vault_url=fake_vault.url, credential=credential, **options)

    # when / then
    with pytest.raises(VaultUnavailable):
        vault.get(new_vault_key("conn"))
    assert fake_vault.requests == []


def test_a_token_the_vault_does_not_accept_makes_the_vault_unavailable(fake_vault):
    # given
    vault = AzureKeyVault(
        vault_url=fake_vault.url, credential=FixedTokenCredential("wrong-token"), **fake_vault.client_options()
    )

    # when / then
    with pytest.raises(VaultUnavailable):
        vault.get(new_vault_key("conn"))
    assert fake_vault.authorized_requests() and all(request.status == 401 for request in fake_vault.requests)


@pytest.fixture
def fresh_vault_cache():
    qiiub.vault._vault_for.cache_clear()
    yield
    qiiub.vault._vault_for.cache_clear()


def test_the_azure_backend_is_picked_when_configured(settings, fresh_vault_cache):
    # given
    settings.VAULT_BACKEND = "azure"
    settings.AZURE_KEY_VAULT_URL = "https://qiiub-test.vault.azure.net/"

    # when
    vault = qiiub.vault.get_vault()

    # then
    assert isinstance(vault, AzureKeyVault)
    assert vault.client.vault_url == "https://qiiub-test.vault.azure.net"


def test_the_azure_backend_without_a_vault_url_is_a_configuration_error(settings, fresh_vault_cache):
    # given
    settings.VAULT_BACKEND = "azure"
    settings.AZURE_KEY_VAULT_URL = ""

    # when
    with pytest.raises(ApplicationError) as raised:
        qiiub.vault.get_vault()

    # then
    assert raised.value.code == "vault_misconfigured"


def test_on_a_soft_delete_vault_a_deleted_key_cannot_be_stored_again(credential):
    # given a vault with soft-delete on (the Azure default) and a deleted secret
    with FakeKeyVault(soft_delete=True) as fake:
        vault = AzureKeyVault(vault_url=fake.url, credential=credential, **fake.client_options())
        key = new_vault_key("conn")
        vault.put(key, {"token": "abc"})
        vault.delete(key)

        # when / then Key Vault answers 409 Conflict until the deleted secret is purged
        with pytest.raises(VaultUnavailable):
            vault.put(key, {"token": "def"})
        assert fake.requests[-1].status == 409
        with pytest.raises(NotFound):
            vault.get(key)
