import uuid

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from integrations.models import MerchantIntegration
from integrations.services import configuring, enabling
from integrations.services.rotation import reencrypt_all
from merchants.store.models import Customer
from qiiub.encryption import DecryptionFailed
from qiiub.errors import CardDataRejected, ValidationFailed
from tests.factories import ACUMATICA_CONFIG, definition


@pytest.fixture
def acumatica(personas):
    return enabling.merchant_integration_enable(merchant=personas.colmado, definition=definition("erp.acumatica"), by=None)


def _raw_configuration(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT configuration FROM integrations_merchantintegration WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_configuration_not_matching_the_schema_is_refused_field_by_field_and_nothing_is_stored(acumatica):
    before = MerchantIntegration.objects.get(pk=acumatica.pk).configuration
    bad = {"instance_url": "http://insecure.example.com", "poll_every_minutes": 1, "colour": "blue"}
    with pytest.raises(ValidationFailed) as error:
        configuring.merchant_integration_configure(integration=acumatica, configuration=bad, by=None)
    fields = error.value.field_errors
    assert fields["company"] == ["This field is required."]
    assert "instance_url" in fields and "poll_every_minutes" in fields
    assert fields["colour"] == ["This field is not part of this integration's configuration."]
    assert MerchantIntegration.objects.get(pk=acumatica.pk).configuration == before


def test_a_wrong_type_names_the_field(acumatica):
    with pytest.raises(ValidationFailed) as error:
        configuring.merchant_integration_configure(
            integration=acumatica, configuration={**ACUMATICA_CONFIG, "poll_every_minutes": "often"}, by=None
        )
    assert error.value.field_errors == {"poll_every_minutes": ["Must be a whole number."]}


@pytest.mark.security
@pytest.mark.parametrize(
    "value",
    ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "company 5500-0000-0000-0004 ltd", "378282246310005"],
)
def test_a_card_number_in_any_configuration_value_is_refused_and_nothing_is_stored(acumatica, value):
    before = _raw_configuration(acumatica.pk)
    with pytest.raises(CardDataRejected) as error:
        configuring.merchant_integration_configure(integration=acumatica, configuration={**ACUMATICA_CONFIG, "company": value}, by=None)
    assert error.value.field_path == "company"
    assert error.value.http_status == 422
    assert value not in error.value.message
    assert _raw_configuration(acumatica.pk) == before


@pytest.mark.security
def test_a_card_number_in_credentials_is_refused_before_the_vault(acumatica):
    from qiiub.models import VaultSecret

    secrets = VaultSecret.objects.count()
    with pytest.raises(CardDataRejected):
        configuring.merchant_integration_set_credentials(
            integration=acumatica, credentials={"username": "u", "password": "4111111111111111"}, by=None
        )
    assert VaultSecret.objects.count() == secrets


@pytest.mark.security
def test_configuration_is_encrypted_at_rest_and_json_types_round_trip(acumatica):
    configuring.merchant_integration_configure(integration=acumatica, configuration=ACUMATICA_CONFIG, by=None)
    raw = _raw_configuration(acumatica.pk)
    assert "FSJ" not in raw and "acumatica" not in raw
    stored = MerchantIntegration.objects.get(pk=acumatica.pk).configuration
    assert stored == ACUMATICA_CONFIG
    assert isinstance(stored["poll_every_minutes"], int)


@pytest.mark.security
def test_a_missing_key_raises_instead_of_returning_ciphertext(acumatica, settings):
    configuring.merchant_integration_configure(integration=acumatica, configuration=ACUMATICA_CONFIG, by=None)
    assert MerchantIntegration.objects.get(pk=acumatica.pk).configuration == ACUMATICA_CONFIG  # read (and kept) once
    settings.FERNET_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionFailed, match="cannot be decrypted"):
        MerchantIntegration.objects.get(pk=acumatica.pk)


def test_each_read_of_a_configuration_is_a_value_of_its_own(acumatica):
    configuring.merchant_integration_configure(integration=acumatica, configuration=ACUMATICA_CONFIG, by=None)
    first = MerchantIntegration.objects.get(pk=acumatica.pk)
    first.configuration["company"] = "changed in memory only"
    assert MerchantIntegration.objects.get(pk=acumatica.pk).configuration == ACUMATICA_CONFIG


@pytest.mark.security
def test_key_rotation_reencrypts_so_the_old_key_can_be_dropped(acumatica, settings):
    # given configuration written under the current key
    configuring.merchant_integration_configure(integration=acumatica, configuration=ACUMATICA_CONFIG, by=None)
    configuring.merchant_integration_set_credentials(
        integration=acumatica, credentials={"username": "rot-user", "password": "rot-pass"}, by=None
    )
    with schema_context(acumatica.merchant.schema_name):  # a customer's contact details, in the store's schema
        Customer.objects.create(client_uuid=uuid.uuid4(), location_code="CR01", customer_code="ROT-1",
                                contact={"name": "Ana Rivera", "email": "", "phone": ""},
                                created_at=timezone.now(), updated_at=timezone.now())
    old_config_key, old_vault_key = settings.FERNET_KEYS[0], settings.VAULT_LOCAL_KEYS[0]
    new_config_key, new_vault_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()

    # when a new key is put first and everything is re-encrypted
    settings.FERNET_KEYS = [new_config_key, old_config_key]
    settings.VAULT_LOCAL_KEYS = [new_vault_key, old_vault_key]
    counts = reencrypt_all()
    assert counts["configurations"] >= 1 and counts["secrets"] >= 1 and counts["customer contacts"] >= 1

    # then the old keys can be removed and everything still reads
    settings.FERNET_KEYS = [new_config_key]
    settings.VAULT_LOCAL_KEYS = [new_vault_key]
    integration = MerchantIntegration.objects.get(pk=acumatica.pk)
    assert integration.configuration == ACUMATICA_CONFIG
    from qiiub.vault import get_vault

    assert get_vault().get(integration.credentials_vault_key) == {"username": "rot-user", "password": "rot-pass"}
    with schema_context(acumatica.merchant.schema_name):
        assert Customer.objects.get(customer_code="ROT-1").contact["name"] == "Ana Rivera"
