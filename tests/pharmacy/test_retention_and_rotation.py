"""Patient data is kept as long as the law asks and no longer, and its key can be rotated."""

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from pharmacy.retention import merchant_retention_apply
from pharmacy.rotation import phi_reencrypt
from pharmacy.store.models import PhiAccess, Pickup, Prescription, PrescriptionStatus
from tests.pharmacy.conftest import PATIENTS, pickup_record, ready


def _push(store, *changes):
    return store.relay.client.post("/api/pos/v1/relay/prescriptions", {"changes": list(changes)}, format="json")


def test_retention_purges_what_is_past_its_time_and_logs_the_purge(store):
    _push(store, ready("5000001"), ready("5000002"), ready("5000003"))
    store.registers[0].client.post("/api/pos/v1/uploads", {"records": [pickup_record("5000001")]}, format="json")
    now = timezone.now()
    with schema_context(store.merchant.schema_name):
        Prescription.objects.filter(status=PrescriptionStatus.PICKED_UP).update(closed_at=now - timedelta(days=31))
        with connection.cursor() as cursor:  # an access 7 years old, and one 5 years old
            for years in (7, 5):
                cursor.execute("INSERT INTO pharmacy_store_phiaccess (at, actor_kind, actor_label, location_code, "
                               "action, resource, record_ids, count, source) VALUES (%s, 'system', 'old', '', "
                               "'read', 'ready_list', '[]', 0, '')", [now - timedelta(days=365 * years + 2)])

    purged = merchant_retention_apply(store.merchant, now)
    assert (purged["prescriptions"], purged["pickups"], purged["phi_access"]) == (1, 0, 1)
    with schema_context(store.merchant.schema_name):  # ten years on, the signature log goes too
        Pickup.objects.update(keep_until=now.date() - timedelta(days=1))
    assert merchant_retention_apply(store.merchant, now)["pickups"] == 1

    with schema_context(store.merchant.schema_name):
        assert Prescription.objects.filter(status=PrescriptionStatus.READY).count() == 2
        assert not Pickup.objects.exists()
        assert PhiAccess.objects.filter(actor_label="old").count() == 1  # 5 years: kept
        assert PhiAccess.objects.filter(action="purge", resource="prescriptions", count=1).exists()


@pytest.mark.security
def test_the_phi_key_rotates_and_the_old_key_can_then_be_dropped(store, settings):
    _push(store, ready("5000009", patient=PATIENTS[1]))
    old_key, new_key = settings.PHI_KEYS[0], Fernet.generate_key().decode()
    settings.PHI_KEYS = [new_key, old_key]

    assert phi_reencrypt() >= 1

    settings.PHI_KEYS = [new_key]
    with schema_context(store.merchant.schema_name):
        assert Prescription.objects.get().phi["patient_name"] == PATIENTS[1]
