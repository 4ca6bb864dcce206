"""The POS sync API end to end through Django's request stack: enrollment, tokens, config with
ETag, uploads with per-record results, the record lookup and the catalog."""

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from devices import cascade
from devices.catalog import CURSOR_PATTERN
from devices.models import EnrollmentCode, Terminal
from devices.terminals import enrollment_code_create, terminal_enroll, terminal_revoke
from devices.uploads import MAX_BODY_BYTES, MAX_RECORDS
from events.models import OutboxEvent
from merchants.store.models import DeviceStatus, Sale, ShiftClose, Tender
from pharmacy.store.models import Pickup
from qiiub.errors import ValidationFailed
from tests.devices.conftest import enrolled, sale_record


def _stored_sales(merchant) -> list:
    with schema_context(merchant.schema_name):
        return list(Sale.objects.values_list("client_uuid", flat=True))


def _upload(terminal, records, **extra):
    return terminal.client.post("/api/pos/v1/uploads", {"records": records}, format="json", **extra)


# Enrollment and tokens


def test_an_enrollment_code_works_once_and_the_token_is_stored_only_as_a_hash(personas):
    location = personas.colmado.locations.first()
    _, code = enrollment_code_create(location=location)

    answer = APIClient().post("/api/pos/v1/enroll", {"code": code.lower(), "name": "Register 1"}, format="json")

    assert answer.status_code == 201
    token = answer.json()["token"]
    assert token.startswith("qtt_") and answer.json()["terminal"]["location"] == location.code
    assert not Terminal.objects.filter(token_hash__contains=token[4:]).exists()
    again = APIClient().post("/api/pos/v1/enroll", {"code": code, "name": "Register 2"}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_enrollment_code"
    assert Terminal.objects.count() == 1


def test_an_expired_or_unknown_enrollment_code_is_refused_and_creates_no_terminal(personas):
    enrollment, code = enrollment_code_create(location=personas.colmado.locations.first())
    EnrollmentCode.objects.filter(pk=enrollment.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    for attempt in (code, "AAAA-BBBB-CCCC", ""):
        with pytest.raises(ValidationFailed, match="not valid"):
            terminal_enroll(code=attempt, name="Register 1")
    assert not Terminal.objects.exists()


@pytest.mark.security
def test_guessing_enrollment_codes_is_rate_limited(personas):
    client = APIClient()
    answers = [client.post("/api/pos/v1/enroll", {"code": f"AAAA-BBBB-{index:04d}", "name": "Guess"}, format="json")
               for index in range(25)]
    assert {answer.status_code for answer in answers[:20]} == {400}
    assert answers[-1].status_code == 429 and answers[-1].json()["error"]["code"] == "throttled"
    assert not Terminal.objects.exists()


NAME_HINT = 'Not in the expected format. What the portal calls the terminal, e.g. "Register 1".'


@pytest.mark.parametrize(("body", "fields"), [
    ({"code": "", "name": ""}, {"code": ["This field is required."], "name": ["This field is required.", NAME_HINT]}),
    ({"code": None}, {"code": ["Must be text."], "name": ["This field is required."]}),
    ({"name": 7}, {"name": ["Must be text."]}),
    ({"name": "   "}, {"name": [NAME_HINT]}),
    ({"name": "R" * 101}, {"name": ["At most 100 characters."]}),
    ({"name": "Register 1", "colour": "red"}, {"colour": ["Not a field of an enrollment request."]}),
])
def test_an_enrollment_request_the_openapi_document_refuses_is_refused_and_leaves_the_code_usable(personas, body,
                                                                                                  fields):
    # given a valid code, sent unless the case replaces it
    _, code = enrollment_code_create(location=personas.colmado.locations.first())
    body = {"code": code, **body}

    answer = APIClient().post("/api/pos/v1/enroll", body, format="json")

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == fields
    assert not Terminal.objects.exists()
    assert APIClient().post("/api/pos/v1/enroll", {"code": code, "name": "Register 1"}, format="json").status_code == 201


@pytest.mark.security
def test_a_method_enrollment_does_not_have_is_answered_405_even_once_attempts_are_rate_limited(personas):
    client = APIClient()
    for index in range(21):
        client.post("/api/pos/v1/enroll", {"code": f"AAAA-BBBB-{index:04d}", "name": "Guess"}, format="json")
    assert client.post("/api/pos/v1/enroll", {"code": "AAAA", "name": "Guess"}, format="json").status_code == 429

    for method in ("delete", "put", "patch", "get"):
        answer = getattr(client, method)("/api/pos/v1/enroll")
        assert answer.status_code == 405, method
        assert answer.json()["error"]["code"] == "method_not_allowed" and "POST" in answer.headers["Allow"]
    assert client.options("/api/pos/v1/enroll").status_code == 200  # not an attempt either


@pytest.mark.security
@pytest.mark.parametrize("header", [None, "Bearer qtt_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer "])
def test_a_missing_or_wrong_token_answers_401(terminal, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    answer = client.get("/api/pos/v1/config")
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] and "WWW-Authenticate" in answer.headers


@pytest.mark.security
def test_a_revoked_token_answers_401_at_once(terminal):
    assert terminal.client.get("/api/pos/v1/config").status_code == 200
    terminal_revoke(terminal=terminal.terminal)
    answer = terminal.client.get("/api/pos/v1/config")
    assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]


# Config down


def test_the_config_carries_every_setting_with_its_source_and_an_unchanged_one_is_a_304(terminal, personas):
    answer = terminal.client.get("/api/pos/v1/config")
    assert answer.status_code == 200
    config, etag = answer.json(), answer.headers["ETag"]
    assert config["location"]["code"] == terminal.location.code
    assert config["settings"]["payments.card.offline_allowed"] == {"value": False, "source": "system", "locked": True}
    assert config["settings"]["devices.receipt_printer"]["value"] is None

    with CaptureQueriesContext(connection) as queries:
        unchanged = terminal.client.get("/api/pos/v1/config", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert len(queries) == 1  # the token lookup: no resolve work

    printer = {"model": "epson_tm_t88", "connection": {"type": "tcp", "host": "192.168.1.40", "port": 9100},
               "cash_drawer_kick": True}
    cascade.setting_value_set(key="devices.receipt_printer", owner=personas.colmado, value=printer)
    changed = terminal.client.get("/api/pos/v1/config", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["settings"]["devices.receipt_printer"] == {"value": printer, "source": "merchant",
                                                                     "locked": False}


def test_the_config_lists_the_pos_level_integrations_active_for_the_location_without_credentials(personas):
    from integrations.models import MerchantIntegration, Status
    from integrations.services import configuring, enabling, transitions
    from tests.factories import definition
    from tests.sandbox_vendors import PHARMACY_RELAY_CODE

    pharmacy = personas.pharmacies[0]
    location = pharmacy.locations.order_by("code").first()
    terminal = enrolled(location)
    relay = enabling.merchant_integration_enable(merchant=pharmacy, definition=definition(PHARMACY_RELAY_CODE),
                                                 location=location, by=None)
    configuring.merchant_integration_configure(
        integration=relay, configuration={"server_host": "10.0.0.5", "server_port": 5000, "mode": "socket"}, by=None)
    configuring.merchant_integration_set_credentials(integration=relay, credentials={"password": "relay-secret-key"},
                                                     by=None)
    # given it is active (its connection test needs the store's own pharmacy server)
    MerchantIntegration.objects.filter(pk=relay.pk).update(status=Status.ACTIVE)
    cascade.config_changed(location)

    answer = terminal.client.get("/api/pos/v1/config")
    assert [item["code"] for item in answer.json()["integrations"]] == [PHARMACY_RELAY_CODE]
    assert answer.json()["integrations"][0]["configuration"]["server_host"] == "10.0.0.5"
    assert "relay-secret-key" not in answer.content.decode()

    # when it is paused, the terminal's next pull sees a new version without it
    transitions.merchant_integration_pause(integration=relay, by=None)
    paused = terminal.client.get("/api/pos/v1/config", HTTP_IF_NONE_MATCH=answer.headers["ETag"])
    assert paused.status_code == 200 and paused.json()["integrations"] == []


# Results up


def test_an_upload_stores_each_record_type_and_a_repeat_is_reported_duplicate(terminal, personas):
    now = timezone.now()
    records = [
        sale_record(),
        {"type": "shift_close", "client_uuid": str(uuid.uuid4()), "opened_at": (now - timedelta(hours=8)).isoformat(),
         "closed_at": now.isoformat(), "cashier": "C-07", "sales_count": 41, "sales_total": "812.40",
         "expected_cash": "300.00", "counted_cash": "298.50"},
        {"type": "rx_pickup", "client_uuid": str(uuid.uuid4()), "rx_number": "6012345", "fill_number": 1,
         "picked_up_at": now.isoformat(), "picked_up_by": {"name": "Ana Rivera", "relation": "self"},
         "amount_paid": "5.00"},
        {"type": "device_status", "client_uuid": str(uuid.uuid4()), "device": "receipt_printer", "state": "warning",
         "detail": "Paper low", "reported_at": now.isoformat()},
    ]

    answer = _upload(terminal, records)

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["stored"], body["duplicates"], body["rejected"]) == (4, 0, 0)
    assert [result["status"] for result in body["results"]] == ["stored"] * 4
    with schema_context(personas.colmado.schema_name):
        sale = Sale.objects.get()
        assert sale.terminal_id == terminal.terminal.pk and sale.tax_lines.count() == 2
        assert Tender.objects.get(kind="card").card_last4 == "4242"
        assert ShiftClose.objects.count() == Pickup.objects.count() == DeviceStatus.objects.count() == 1
    assert sorted(OutboxEvent.objects.values_list("event_type", flat=True)) == ["sale.completed", "shift.closed"]

    repeat = _upload(terminal, records).json()
    assert (repeat["stored"], repeat["duplicates"]) == (0, 4)
    assert len(_stored_sales(personas.colmado)) == 1 and OutboxEvent.objects.count() == 2


def test_invalid_records_are_reported_one_by_one_and_the_valid_ones_are_stored(terminal, personas):
    good = sale_record()
    unbalanced = sale_record(tenders=[{"kind": "cash", "amount": "11.00"}])
    wrong_types = sale_record(total=11.15, lines="CAFE")
    unknown = {"type": "refund", "client_uuid": str(uuid.uuid4())}

    body = _upload(terminal, [unbalanced, good, wrong_types, unknown, good]).json()

    assert [result["status"] for result in body["results"]] == ["rejected", "stored", "rejected", "rejected",
                                                                  "duplicate"]
    assert body["results"][0]["errors"] == {
        "records[0].tenders": ["The tenders add up to 11.00, not the sale's total 11.15."]}
    assert set(body["results"][2]["errors"]) == {"records[2].total", "records[2].lines"}
    assert body["results"][2]["errors"]["records[2].total"] == ["Must be text."]
    assert "records[3].type" in body["results"][3]["errors"]
    assert _stored_sales(personas.colmado) == [uuid.UUID(good["client_uuid"])]


@pytest.mark.parametrize(("language", "message"), [("en", "Not a field of sale records."),
                                                    ("es", "No es un campo de los registros sale.")])
def test_a_field_a_record_type_does_not_have_is_named_as_not_a_field_of_that_record_type(terminal, personas, language,
                                                                                        message):
    tender = {"kind": "cash", "amount": "11.15", "colour": "red"}

    body = _upload(terminal, [sale_record(colour="red", tenders=[tender])], HTTP_ACCEPT_LANGUAGE=language).json()

    assert body["results"][0]["errors"] == {"records[0].colour": [message], "records[0].tenders[0].colour": [message]}
    assert _stored_sales(personas.colmado) == []


def test_a_text_holding_a_nul_character_rejects_its_record_and_stores_nothing(terminal, personas):
    # PostgreSQL text cannot hold one: the record is refused with a reason, not answered with a 500
    sale = sale_record(lines=[{"sku": "CAFE\x001LB", "description": "Café", "quantity": "1", "unit_price": "10.00",
                               "line_total": "10.00"}])

    body = _upload(terminal, [sale]).json()

    assert body["results"][0]["status"] == "rejected"
    assert list(body["results"][0]["errors"]) == ["records[0].lines[0].sku"]
    assert _stored_sales(personas.colmado) == []


def test_an_upload_with_a_field_besides_its_records_is_refused_and_stores_nothing(terminal, personas):
    answer = terminal.client.post("/api/pos/v1/uploads", {"records": [sale_record()], "batch": 7}, format="json")

    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {"batch": ["Not a field of an upload."]}
    assert _stored_sales(personas.colmado) == []


def test_an_upload_larger_than_djangos_default_body_limit_is_read_whole(terminal, settings):
    # given a 3 MB upload (Django's default refuses bodies over 2.5 MB; the API allows 5 MB)
    records = [{"type": "device_status", "client_uuid": str(uuid.uuid4()), "device": "scale", "state": "ok",
                "reported_at": "2026-11-25T14:03:00-04:00", "detail": "x" * 7500} for _ in range(400)]
    body = json.dumps({"records": records})
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= MAX_BODY_BYTES > len(body) > 2.5 * 1024 * 1024

    answer = terminal.client.post("/api/pos/v1/uploads", data=body, content_type="application/json")

    assert answer.status_code == 200
    assert answer.json()["rejected"] == 400  # each detail is too long: read, checked and reported


@pytest.mark.security
@pytest.mark.parametrize("where", ["processor_ref", "line_description", "note_key"])
def test_a_card_number_anywhere_refuses_the_whole_batch_with_422_and_stores_nothing(terminal, personas, where, caplog):
    pan = "4111 1111 1111 1111"
    dirty = sale_record()
    if where == "processor_ref":
        dirty["tenders"][1]["processor_ref"] = pan
    elif where == "line_description":
        dirty["lines"][0]["description"] = f"Gift card {pan}"
    else:
        dirty["tenders"][0]["cvv"] = "123"

    answer = _upload(terminal, [sale_record(), dirty])

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "card_data_rejected"
    assert "records[1]" in answer.json()["error"]["message"]
    assert _stored_sales(personas.colmado) == [] and not OutboxEvent.objects.exists()
    assert "4111" not in answer.content.decode() and "4111" not in caplog.text


def test_malformed_json_oversized_batches_and_a_missing_records_list_are_refused(terminal, personas):
    malformed = terminal.client.post("/api/pos/v1/uploads", data='{"records": [', content_type="application/json")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "parse_error"

    missing = terminal.client.post("/api/pos/v1/uploads", {"sales": []}, format="json")
    assert missing.status_code == 400 and "records" in missing.json()["error"]["fields"]

    too_many = _upload(terminal, [sale_record() for _ in range(MAX_RECORDS + 1)])
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "batch_too_large"

    huge = terminal.client.post("/api/pos/v1/uploads", data=json.dumps({"records": [], "pad": "x" * (6 * 1024 * 1024)}),
                                content_type="application/json")
    assert huge.status_code == 413
    assert _stored_sales(personas.colmado) == []


@pytest.mark.security
def test_a_terminal_sees_its_own_records_and_another_locations_are_404(personas):
    record = sale_record()
    santurce, rio_piedras = personas.pharmacies[0].locations.order_by("code")
    terminal = enrolled(santurce)
    _upload(terminal, [record])
    assert terminal.client.get(f"/api/pos/v1/records/{record['client_uuid']}").json()["type"] == "sale"
    assert terminal.client.get(f"/api/pos/v1/records/{record['client_uuid'].upper()}").json()["type"] == "sale"

    other = enrolled(rio_piedras, name="Other store")
    answer = other.client.get(f"/api/pos/v1/records/{record['client_uuid']}")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    elsewhere = enrolled(personas.retail[1].locations.first(), name="Another merchant")
    assert elsewhere.client.get(f"/api/pos/v1/records/{record['client_uuid']}").status_code == 404


def test_the_catalog_pages_through_changed_products_with_a_cursor(terminal, personas):
    from merchants.store.models import Product

    with schema_context(personas.colmado.schema_name):
        Product.objects.all().delete()
        for index in range(3):
            Product.objects.create(sku=f"SKU-{index}", name=f"Item {index}", price="1.00")
        Product.objects.update(updated_at=timezone.now() - timedelta(minutes=1))

    first = terminal.client.get("/api/pos/v1/catalog").json()
    assert [product["sku"] for product in first["products"]] == ["SKU-0", "SKU-1", "SKU-2"]
    assert re.search(CURSOR_PATTERN, first["next"]) and first["next"]
    assert terminal.client.get("/api/pos/v1/catalog", {"since": ""}).json() == first
    assert terminal.client.get("/api/pos/v1/catalog", {"since": first["next"]}).json()["products"] == []

    with schema_context(personas.colmado.schema_name):
        Product.objects.filter(sku="SKU-1").update(price="2.50", updated_at=timezone.now() - timedelta(seconds=30))
    changed = terminal.client.get("/api/pos/v1/catalog", {"since": first["next"]}).json()
    assert [(product["sku"], product["price"]) for product in changed["products"]] == [("SKU-1", "2.50")]
    for cursor in ("garbage", "+", "1.2.3", "1_000.5", "١٢.٣"):
        refused = terminal.client.get("/api/pos/v1/catalog", {"since": cursor})
        assert refused.status_code == 400 and refused.json()["error"]["fields"] == {"since": ["Not a valid cursor."]}


def test_a_catalog_cursor_of_the_earlier_format_still_carries_on_where_it_was(terminal, personas):
    import base64

    from merchants.store.models import Product

    with schema_context(personas.colmado.schema_name):
        Product.objects.all().delete()
        old = Product.objects.create(sku="SKU-OLD", name="Old", price="1.00")
        new = Product.objects.create(sku="SKU-NEW", name="New", price="1.00")
        Product.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(minutes=2))
        Product.objects.filter(pk=new.pk).update(updated_at=timezone.now() - timedelta(minutes=1))
        old.refresh_from_db()
    # what a terminal kept from before the cursor format changed: base64 of "<ISO time>|<id>"
    legacy = base64.urlsafe_b64encode(f"{old.updated_at.isoformat()}|{old.pk}".encode()).decode()
    page = terminal.client.get("/api/pos/v1/catalog", {"since": legacy}).json()
    assert [product["sku"] for product in page["products"]] == ["SKU-NEW"]
    assert re.search(CURSOR_PATTERN, page["next"])  # and it gets a cursor of today's format back
