"""The hub's side of a pharmacy store: what the relay pushes reaches every register (minimum
necessary, with an ETag, every read audited), what registers upload reaches the relay's outbox
once, and the relay's lease, tokens and credentials hold."""

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone
from django_tenants.utils import schema_context

from integrations.models import IntegrationDefinition, MerchantIntegration, Status
from integrations.services.configuring import merchant_integration_set_credentials
from pharmacy.connector import PharmacySystemConnector
from pharmacy.models import PharmacyStation
from pharmacy.relays import relay_config_version
from pharmacy.store.models import (
    OutboxMessage,
    PhiAccess,
    Pickup,
    Prescription,
    PrescriptionStatus,
    ReceivedChange,
)
from qiiub.http import AuthExpired, VendorUnavailable
from qiiub_relay.sealing import open_sealed
from tests.devices.conftest import enrolled, sale_record
from tests.pharmacy.conftest import PATIENTS, PNG, heartbeat, pickup_record, ready, relay_enrolled

VISA = "4111 1111 1111 1111"


def _push(relay, *changes):
    return relay.client.post("/api/pos/v1/relay/prescriptions", {"changes": list(changes)}, format="json")


def _pull(register, etag=None):
    headers = {"HTTP_IF_NONE_MATCH": etag} if etag else {}
    return register.client.get("/api/pos/v1/prescriptions", **headers)


def _lookup(register, barcode):
    return register.client.post("/api/pos/v1/prescriptions/lookup", {"barcode": barcode}, format="json")


def _upload(register, *records):
    return register.client.post("/api/pos/v1/uploads", {"records": list(records)}, format="json")


def _rows(store, model):
    with schema_context(store.merchant.schema_name):
        return list(model.objects.all())


def _outbox(relay):
    return relay.client.get("/api/pos/v1/relay/outbox").json()["messages"]


def test_pushed_prescriptions_reach_every_register_with_only_what_the_register_needs(store):
    answer = _push(store.relay, ready("6012345", 1), ready("6012346", 0, PATIENTS[1], amount_due="3.00", taxable=True))
    assert answer.status_code == 200 and answer.json() == {"applied": 2, "unchanged": 0}

    first = _pull(store.registers[0])
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    listed = first.json()["prescriptions"]
    assert [(item["rx_number"], item["fill_number"], item["amount_due"]) for item in listed] == [
        ("6012345", 1, "12.50"), ("6012346", 0, "3.00")]
    # minimum necessary: no drug, NDC or address ever reaches a register
    assert set(listed[0]) == {"rx_number", "fill_number", "status", "amount_due", "taxable", "patient_name", "flags",
                              "ready_at"}
    assert listed[0]["flags"] == [{"type": "hipaa", "required": True, "message": "Acknowledge the privacy notice"}]
    # the other register has the same list; an unchanged list is a 304 with nothing in it
    assert _pull(store.registers[1]).json() == first.json()
    again = _pull(store.registers[1], first["ETag"])
    assert again.status_code == 304 and again.content == b""

    # and every read and write was logged, with who, where and which rows
    with schema_context(store.merchant.schema_name):
        log = list(PhiAccess.objects.order_by("id").values_list("actor_kind", "actor_label", "action", "resource",
                                                                 "location_code", "count"))
    assert log[-3:] == [("relay", "Back office PC", "write", "prescription", store.location.code, 2),
                        ("terminal", "Register 1", "read", "ready_list", store.location.code, 2),
                        ("terminal", "Register 2", "read", "ready_list", store.location.code, 2)]


def test_a_push_sent_again_changes_nothing_and_a_withdrawn_fill_leaves_every_register(store):
    change = ready("7000001")
    _push(store.relay, change)
    etag = _pull(store.registers[0])["ETag"]

    assert _push(store.relay, change).json() == {"applied": 0, "unchanged": 1}  # the relay resent it after a crash
    assert _pull(store.registers[0], etag).status_code == 304

    withdrawn = {"message_id": "9b3c1c8e-4d0f-4b7e-9c41-3f3c9b8e2a10", "rx_number": "7000001", "fill_number": 0,
                 "status": "withdrawn"}
    assert _push(store.relay, withdrawn).json()["applied"] == 1
    assert _pull(store.registers[1], etag).json()["prescriptions"] == []


def test_a_barcode_finds_the_ready_fill_and_a_register_of_another_store_finds_nothing(store, personas):
    _push(store.relay, ready("6012345", 2), ready("6012345", 3))
    register = store.registers[0]

    assert [item["fill_number"] for item in _lookup(register, "6012345-2").json()["prescriptions"]] == [2]
    assert [item["fill_number"] for item in _lookup(register, "6012345").json()["prescriptions"]] == [2, 3]

    elsewhere = enrolled(personas.pharmacies[2].locations.get())
    answer = _lookup(elsewhere, "6012345-2")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "prescription_not_ready"
    assert _pull(elsewhere).json()["prescriptions"] == []
    bad = _lookup(register, "60 12;--")
    assert bad.status_code == 400 and "barcode" in bad.json()["error"]["fields"]
    assert _lookup(register, VISA.replace(" ", "")).status_code == 422


def test_a_pickup_takes_the_fill_off_every_register_and_reaches_the_relay_once(store):
    _push(store.relay, ready("6012345"), ready("6012399"))
    etag = _pull(store.registers[1])["ETag"]
    pickup = pickup_record("6012345")

    stored = _upload(store.registers[0], pickup)
    assert stored.json()["stored"] == 1
    assert _upload(store.registers[0], pickup).json()["duplicates"] == 1  # sent again: nothing new

    # the other register sees it gone on its next pull
    assert [item["rx_number"] for item in _pull(store.registers[1], etag).json()["prescriptions"]] == ["6012399"]
    (message,) = _outbox(store.relay)
    assert message["kind"] == "pickup" and message["number"] >= 1
    body = message["body"]
    assert (body["rx_number"], body["picked_up_by"]["relation"], body["register"]) == ("6012345", "spouse",
                                                                                        "Register 1")
    assert base64.b64decode(body["signature"]["data"]) == PNG
    with schema_context(store.merchant.schema_name):
        row = Pickup.objects.select_related("prescription").get()
        written = PhiAccess.objects.filter(resource="pickup").latest("id")
    assert (written.actor_label, written.action, written.source) == ("Register 1", "write", "127.0.0.1")
    assert row.prescription.status == PrescriptionStatus.PICKED_UP and row.signature_bytes == len(PNG)
    assert row.keep_until.year == timezone.now().year + 10

    # acknowledged once: the next fetch is empty, a repeated acknowledgement changes nothing
    ack = {"acks": [{"id": message["id"], "outcome": "delivered"}]}
    assert store.relay.client.post("/api/pos/v1/relay/acks", ack, format="json").json() == {"acknowledged": 1}
    assert store.relay.client.post("/api/pos/v1/relay/acks", ack, format="json").json() == {"acknowledged": 0}
    assert _outbox(store.relay) == []


def test_an_rx_sale_and_its_return_go_to_the_pharmacy_system_and_rx30_asks_for_a_manual_reset(store):
    definition = IntegrationDefinition.objects.get(code="pharmacy.rx30")
    MerchantIntegration.objects.create(merchant=store.merchant, definition=definition, location=store.location,
                                       status=Status.ACTIVE, configuration={"mode": "file", "drop_folder": "/x"})
    _push(store.relay, ready("6012345"))
    rx_line = {"sku": "RX", "description": "Prescription", "quantity": "1", "unit_price": "12.50",
               "line_total": "12.50", "tax_category": "exempt", "rx": {"rx_number": "6012345", "fill_number": 0}}
    sale = sale_record(lines=[rx_line], subtotal="12.50", tax_state="0.00", tax_municipal="0.00", total="12.50",
                       tax_lines=[], tenders=[{"kind": "cash", "amount": "12.50"}])
    returned = sale_record(lines=[{**rx_line, "quantity": "-1", "line_total": "-12.50"}], subtotal="-12.50",
                           tax_state="0.00", tax_municipal="0.00", total="-12.50", tax_lines=[],
                           tenders=[{"kind": "cash", "amount": "-12.50"}])

    assert _upload(store.registers[0], pickup_record("6012345"), sale).json()["stored"] == 2
    assert _upload(store.registers[1], returned).json()["stored"] == 1

    kinds = [(message["kind"], message["body"].get("rx_number")) for message in _outbox(store.relay)]
    assert kinds == [("pickup", "6012345"), ("sale", None), ("return", "6012345")]
    assert _outbox(store.relay)[1]["body"]["lines"][0]["rx_number"] == "6012345"
    (prescription,) = _rows(store, Prescription)
    assert prescription.status == PrescriptionStatus.RETURNED and prescription.needs_manual_reset


@pytest.mark.security
def test_a_second_relay_is_refused_naming_the_active_one_until_it_stops_heart_beating(store):
    second = relay_enrolled(store.location, name="Register 3 PC")

    refused = heartbeat(second)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "relay_not_active"
    assert "“Back office PC”" in refused.json()["error"]["message"]
    assert _push(second, ready("6012345")).status_code == 409
    assert second.client.get("/api/pos/v1/relay/outbox").status_code == 409
    assert _rows(store, Prescription) == []

    # the active one falls silent past the takeover time: the next heartbeat takes over
    PharmacyStation.objects.filter(location=store.location).update(
        lease_renewed_at=timezone.now() - timedelta(hours=1))
    assert heartbeat(second).status_code == 200
    assert heartbeat(store.relay).status_code == 409
    assert _push(second, ready("6012345")).json()["applied"] == 1


@pytest.mark.security
def test_card_data_refuses_a_push_or_a_pickup_whole_and_stores_nothing(store):
    refused = _push(store.relay, ready("6012345"), ready("6012346", patient=f"Ana {VISA}"))
    assert refused.status_code == 422 and VISA not in refused.content.decode()
    pickup = pickup_record("6012345")
    pickup["picked_up_by"]["name"] = f"Luis {VISA}"
    assert _upload(store.registers[0], pickup).status_code == 422
    assert _rows(store, Prescription) == _rows(store, ReceivedChange) == _rows(store, Pickup) == []


@pytest.mark.security
def test_an_oversized_signature_refuses_the_upload_with_413_and_stores_nothing(store):
    big = base64.b64encode(PNG + b"\0" * 70_000).decode()
    answer = _upload(store.registers[0], pickup_record("6012345"),
                     pickup_record("6012346", signature={"format": "image/png", "data": big}))
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "signature_too_large"
    assert "records[1].signature.data" in answer.json()["error"]["fields"]
    assert _rows(store, Pickup) == _rows(store, OutboxMessage) == []


@pytest.mark.security
def test_a_signature_that_is_not_the_image_it_claims_is_rejected_alone(store):
    fake = pickup_record("6012346", signature={"format": "image/jpeg", "data": base64.b64encode(PNG).decode()})
    body = _upload(store.registers[0], pickup_record("6012345"), fake).json()
    assert [result["status"] for result in body["results"]] == ["stored", "rejected"]
    assert body["results"][1]["errors"] == {"records[1].signature.data": ["Not a image/jpeg image."]}


@pytest.mark.security
def test_a_relay_token_reaches_only_its_own_store(store, personas):
    _upload(store.registers[0], pickup_record("6012345"))
    (message,) = _outbox(store.relay)
    other = relay_enrolled(personas.pharmacies[2].locations.get(), name="Mayagüez relay")
    assert heartbeat(other).status_code == 200

    assert _outbox(other) == []
    ack = {"acks": [{"id": message["id"], "outcome": "delivered"}]}
    assert other.client.post("/api/pos/v1/relay/acks", ack, format="json").json() == {"acknowledged": 0}
    assert _outbox(store.relay) == [message]
    # a terminal token is not a relay token, nor the other way round
    assert store.registers[0].client.get("/api/pos/v1/relay/outbox").status_code == 401
    assert store.relay.client.get("/api/pos/v1/prescriptions").status_code == 401


@pytest.mark.security
def test_patient_data_is_encrypted_at_rest_and_the_access_log_cannot_be_changed(store):
    _push(store.relay, ready("6012345", patient=PATIENTS[2]))
    _upload(store.registers[0], pickup_record("6012345"))
    with schema_context(store.merchant.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT phi FROM pharmacy_store_prescription UNION ALL SELECT phi FROM pharmacy_store_pickup "
                       "UNION ALL SELECT signature FROM pharmacy_store_pickup UNION ALL "
                       "SELECT body FROM pharmacy_store_outboxmessage")
        stored = " ".join(row[0] for row in cursor.fetchall())
        assert stored and PATIENTS[2] not in stored and "6012345" not in stored and "Quiñones" not in stored
        assert base64.b64encode(PNG).decode()[:20] not in stored

        for statement in ("UPDATE pharmacy_store_phiaccess SET actor_label = 'someone else'",
                          "DELETE FROM pharmacy_store_phiaccess"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as attempt:
                attempt.execute(statement)


@pytest.mark.security
def test_the_relay_config_seals_the_credentials_to_the_relay_and_the_test_reads_its_heartbeat(store, personas):
    definition = IntegrationDefinition.objects.get(code="pharmacy.pioneerrx")
    integration = MerchantIntegration.objects.create(
        merchant=store.merchant, definition=definition, location=store.location, status=Status.CONFIGURING,
        configuration={"base_url": "https://pioneer.store.local:8443"})
    merchant_integration_set_credentials(integration=integration, by=personas.merchant_admin,
                                         credentials={"api_key": "PRX-KEY", "shared_secret": "s3cr3t-shared"})

    answer = store.relay.client.get("/api/pos/v1/relay/config")
    assert answer.status_code == 200 and "s3cr3t-shared" not in answer.content.decode()
    pharmacy = answer.json()["pharmacy"]
    assert pharmacy["system"] == "pioneerrx" and pharmacy["configuration"]["base_url"].startswith("https://")
    assert open_sealed(store.relay.private_key, pharmacy["credentials_sealed"]) == {
        "api_key": "PRX-KEY", "shared_secret": "s3cr3t-shared"}
    assert store.relay.client.get("/api/pos/v1/relay/config",
                                  HTTP_IF_NONE_MATCH=answer["ETag"]).status_code == 304

    connector = PharmacySystemConnector(configuration={}, credentials={}, integration=integration)
    with pytest.raises(VendorUnavailable, match="has not picked up these settings yet"):
        connector.test_connection()
    version = relay_config_version(store.relay.relay)
    heartbeat(store.relay, config_version=version, pharmacy_reachable=False,
              last_error={"code": "auth_failed", "at": timezone.now().isoformat()})
    with pytest.raises(AuthExpired, match="refused the relay's credentials"):
        connector.test_connection()
    heartbeat(store.relay, config_version=version, pharmacy_reachable=True)
    connector.test_connection()
    assert json.dumps(answer.json()).count("credentials_sealed") == 1


def test_a_complete_list_withdraws_what_no_relay_lists_any_more_once(store):
    _push(store.relay, ready("6100001"), ready("6100002"), ready("6100003"))
    complete = {"message_id": "0c7d5a4e-2b1f-4c3a-8e9d-6f5a4b3c2d1e",
                "listed": [{"rx_number": "6100002", "fill_number": 0}]}
    # a relay taking over pushes every fill it sees, then the whole list
    answer = store.relay.client.post("/api/pos/v1/relay/prescriptions",
                                     {"changes": [ready("6100004")], "complete": complete}, format="json")
    assert answer.status_code == 200
    assert sorted(item["rx_number"] for item in _pull(store.registers[0]).json()["prescriptions"]) == ["6100002"]

    # the same list again (a resend) changes nothing, not even what became ready since
    _push(store.relay, ready("6100005"))
    again = store.relay.client.post("/api/pos/v1/relay/prescriptions", {"changes": [], "complete": complete},
                                    format="json")
    assert again.json()["applied"] == 0
    assert sorted(item["rx_number"] for item in _pull(store.registers[0]).json()["prescriptions"]) == [
        "6100002", "6100005"]


def test_an_unchanged_ready_list_is_answered_early_with_two_queries_and_no_patient_data(store):
    from django.test.utils import CaptureQueriesContext

    _push(store.relay, ready("6200001"))
    etag = _pull(store.registers[0])["ETag"]
    with schema_context(store.merchant.schema_name):
        logged = PhiAccess.objects.count()
    with CaptureQueriesContext(connection) as queries:
        answer = _pull(store.registers[0], etag)
    assert answer.status_code == 304 and answer["ETag"] == etag
    statements = [query["sql"] for query in queries.captured_queries if not query["sql"].startswith("SET search_path")]
    assert len(statements) == 2, statements  # the token, the version: no session, no schema, no audit
    with schema_context(store.merchant.schema_name):
        assert PhiAccess.objects.count() == logged  # nothing read, nothing logged


@pytest.mark.security
def test_a_refused_push_never_quotes_the_patient_back(store):
    long_name = "Quiñones " * 20
    answer = _push(store.relay, ready("6300001", patient=long_name))
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {"changes[0].patient_name": ["At most 100 characters."]}
    assert "Quiñones" not in answer.content.decode()
