"""Customers created and updated at the register through the POS upload API: `customer.created`
and `customer.updated` for a CRM, personal data encrypted at rest, no card data anywhere."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from events.models import OutboxEvent
from merchants.store.models import Customer
from tests.devices.conftest import enrolled


def _upload(terminal, records, **extra):
    answer = terminal.client.post("/api/pos/v1/uploads", {"records": records}, format="json", **extra)
    assert answer.status_code == 200, answer.content
    return answer.json()


def _customer(**fields) -> dict:
    created = timezone.now() - timedelta(days=1)
    return {"type": "customer", "client_uuid": str(uuid.uuid4()), "customer_code": "LOY-0042", "name": "Ana Rivera",
            "email": "ana@example.com", "phone": "+1 787-555-0142", "marketing_consent": True,
            "created_at": created.isoformat(), "updated_at": created.isoformat(), **fields}


def _stored(merchant) -> list[Customer]:
    with schema_context(merchant.schema_name):
        return list(Customer.objects.order_by("customer_code"))


def _events(merchant) -> list[tuple[str, dict]]:
    return [(event.event_type, event.payload) for event in
            OutboxEvent.objects.filter(merchant=merchant, event_type__startswith="customer.").order_by("created_at")]


def test_a_new_customer_is_stored_and_published_as_created_with_what_a_crm_needs(terminal, personas):
    record = _customer()

    body = _upload(terminal, [record])

    assert body["results"][0]["status"] == "stored"
    (customer,) = _stored(personas.colmado)
    assert customer.contact == {"name": "Ana Rivera", "email": "ana@example.com", "phone": "+1 787-555-0142"}
    assert customer.location_code == "CR01" and customer.marketing_consent is True
    ((event_type, payload),) = _events(personas.colmado)
    assert event_type == "customer.created"
    assert payload == {"customer_id": record["client_uuid"], "customer_code": "LOY-0042", "name": "Ana Rivera",
                       "email": "ana@example.com", "phone": "+1 787-555-0142", "marketing_consent": True,
                       "created_at": record["created_at"], "updated_at": record["updated_at"], "location": "CR01"}
    assert terminal.client.get(f"/api/pos/v1/records/{record['client_uuid']}").json()["type"] == "customer"


def test_the_personal_fields_are_encrypted_at_rest(terminal, personas):
    _upload(terminal, [_customer()])

    with schema_context(personas.colmado.schema_name), connection.cursor() as cursor:
        cursor.execute(f"SELECT contact, customer_code FROM {Customer._meta.db_table}")
        ((contact, code),) = cursor.fetchall()
    assert code == "LOY-0042"
    assert "Ana" not in contact and "example.com" not in contact and "555" not in contact


def test_a_later_version_updates_the_customer_and_an_older_or_repeated_one_changes_nothing(terminal, personas):
    original = _customer()
    _upload(terminal, [original])
    later = {**original, "email": "ana.rivera@example.com", "marketing_consent": False,
             "updated_at": timezone.now().isoformat()}

    updated = _upload(terminal, [later])

    assert updated["results"][0]["status"] == "stored"
    (customer,) = _stored(personas.colmado)
    assert customer.contact["email"] == "ana.rivera@example.com" and customer.marketing_consent is False
    assert [event_type for event_type, _ in _events(personas.colmado)] == ["customer.created", "customer.updated"]
    assert _events(personas.colmado)[1][1]["email"] == "ana.rivera@example.com"

    # when the older version arrives late, or the later one again
    stale = _upload(terminal, [original])
    repeat = _upload(terminal, [later])

    assert stale["results"][0]["status"] == repeat["results"][0]["status"] == "duplicate"
    assert _stored(personas.colmado)[0].contact["email"] == "ana.rivera@example.com"
    assert len(_events(personas.colmado)) == 2


def test_another_store_of_the_merchant_may_update_a_customer(personas):
    santurce, rio_piedras = personas.san_juan.locations.order_by("code")
    record = _customer()
    _upload(enrolled(santurce), [record])

    body = _upload(enrolled(rio_piedras, name="Other till"), [{**record, "name": "Ana M. Rivera",
                                                               "updated_at": timezone.now().isoformat()}])

    assert body["results"][0]["status"] == "stored"
    assert _stored(personas.san_juan)[0].contact["name"] == "Ana M. Rivera"
    assert _events(personas.san_juan)[-1][1]["location"] == "SJ02"


def test_a_code_another_customer_has_or_a_changed_code_is_rejected_and_changes_nothing(terminal, personas):
    first = _customer()
    _upload(terminal, [first])
    namesake = _customer(customer_code="LOY-0042", name="Otra Persona")
    renamed = {**first, "customer_code": "LOY-9999", "updated_at": timezone.now().isoformat()}
    twins = [_customer(customer_code="LOY-0077"), _customer(customer_code="LOY-0077", name="Twin")]

    body = _upload(terminal, [namesake, renamed, *twins])

    assert [result["status"] for result in body["results"]] == ["rejected", "rejected", "stored", "rejected"]
    assert body["results"][0]["errors"] == {"records[0].customer_code": [
        "The customer code LOY-0042 belongs to another customer."]}
    assert body["results"][1]["errors"] == {"records[1].customer_code": [
        "A customer's code does not change: this customer's is LOY-0042."]}
    assert [(customer.customer_code, customer.contact["name"]) for customer in _stored(personas.colmado)] == [
        ("LOY-0042", "Ana Rivera"), ("LOY-0077", "Ana Rivera")]
    assert len(_events(personas.colmado)) == 2


@pytest.mark.parametrize(("fields", "field"), [
    ({"email": "not-an-email"}, "email"),
    ({"phone": "call me"}, "phone"),
    ({"name": ""}, "name"),
    ({"name": "N" * 101}, "name"),
    ({"customer_code": "LOY 42"}, "customer_code"),
    ({"marketing_consent": "yes"}, "marketing_consent"),
    ({"birth_date": "1980-01-01"}, "birth_date"),
    ({"updated_at": "2020-01-01T00:00:00Z"}, "updated_at"),
])
def test_a_customer_that_is_not_valid_or_carries_more_than_a_crm_needs_is_rejected_and_stores_nothing(
        terminal, personas, fields, field):
    body = _upload(terminal, [_customer(**fields)])

    assert body["results"][0]["status"] == "rejected"
    assert list(body["results"][0]["errors"]) == [f"records[0].{field}"]
    assert _stored(personas.colmado) == [] and not OutboxEvent.objects.exists()


@pytest.mark.security
@pytest.mark.parametrize("field", ["name", "customer_code", "phone", "email"])
def test_a_card_number_in_a_customer_refuses_the_batch_and_stores_nothing(terminal, personas, field, caplog):
    pan = {"name": "Ana 4111 1111 1111 1111", "customer_code": "4111111111111111", "phone": "4111 1111 1111 1111",
           "email": "4111111111111111@example.com"}[field]

    answer = terminal.client.post("/api/pos/v1/uploads", {"records": [_customer(customer_code="LOY-1"),
                                                                      _customer(**{field: pan})]}, format="json")

    assert answer.status_code == 422 and answer.json()["error"]["code"] == "card_data_rejected"
    assert _stored(personas.colmado) == [] and not OutboxEvent.objects.exists()
    assert "4111" not in answer.content.decode() and "4111" not in caplog.text
