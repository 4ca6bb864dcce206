"""Card numbers pushed through the POS API: every text field of every uploaded record, the
terminal's app version header (stored on the terminal) and terminal enrollment. Real POS data of
every kind must pass the uploads and be stored as sent. The machinery is in card_inbound.py.
"""

from __future__ import annotations

import random
import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from compliance.scan import card_data_scan
from devices.models import EnrollmentCode, Terminal
from devices.terminals import enrollment_code_create
from events.models import OutboxEvent
from merchants.store.models import DeviceStatus, Sale, SaleLine, SaleTaxLine, ShiftClose, Tender
from pharmacy.store.models import Pickup
from qiiub.card_guard import GTIN_LENGTHS, find_card_data, gs1_check_digit_valid
from tests.card_corpus import MUST_PASS, must_pass_values
from tests.devices.conftest import enrolled, sale_record
from tests.security.card_inbound import (
    OTHER_PATH_CASES,
    SEED,
    Findings,
    assert_nothing_stored_and_not_logged,
    cases,
    fits_a_header,
    json_error,
    refused_with,
)

pytestmark = [pytest.mark.security, pytest.mark.slow]

POS_UPLOAD_CASES = 560  # 10 fields x 7 groupings x 8
ENROLLMENT_CASES = 420
MUST_PASS_PER_KIND = 30  # x 12 kinds through the POS uploads


def is_gtin(value: str) -> bool:
    """A value the guard lets through in a declared barcode field by design: a GTIN whose own GS1
    check digit is right (about one card number in ten written unbroken at 13 or 14 digits)."""
    return value.isdigit() and len(value) in GTIN_LENGTHS and gs1_check_digit_valid(value)


# --- POS uploads --------------------------------------------------------------------------------

def _line(**changes) -> dict:
    return {"sku": "ARROZ-5LB", "description": "Arroz 5 lb", "quantity": "1", "unit_price": "0.00",
            "line_total": "0.00", **changes}


def _cash(**changes) -> dict:
    return {"kind": "cash", "amount": "5.15", **changes}


def _card(**changes) -> dict:
    return {"kind": "card", "amount": "6.00", "card_brand": "visa", "card_last4": "4242", "auth_code": "A1B2C3",
            "processor_ref": "RRN-731004", "entry_method": "contactless", **changes}


def _shift_close(**changes) -> dict:
    now = timezone.now()
    return {"type": "shift_close", "client_uuid": str(uuid.uuid4()), "opened_at": (now - timedelta(hours=8)).isoformat(),
            "closed_at": now.isoformat(), "cashier": "C-07", "sales_count": 41, "sales_total": "812.40",
            "expected_cash": "300.00", "counted_cash": "298.50", **changes}


def _device_status(**changes) -> dict:
    return {"type": "device_status", "client_uuid": str(uuid.uuid4()), "device": "receipt_printer", "state": "warning",
            "detail": "Paper low", "reported_at": timezone.now().isoformat(), **changes}


def _rx_pickup(**changes) -> dict:
    person = {"name": changes.pop("picked_up_by", "Ana Rivera"), "relation": "self"}
    return {"type": "rx_pickup", "client_uuid": str(uuid.uuid4()), "rx_number": "6012345", "fill_number": 1,
            "picked_up_by": person, "amount_paid": "5.00", "picked_up_at": timezone.now().isoformat(), **changes}


def _sale_lines(first: dict, second: dict) -> dict:
    coffee = {"sku": "CAFE-1LB", "description": "Café Yaucono 1 lb", "unit_price": "10.00", "line_total": "10.00"}
    return sale_record(lines=[_line(**first), _line(**{**coffee, **second})])


def _sale_tenders(cash: dict, card: dict) -> dict:
    return sale_record(tenders=[_cash(**cash), _card(**card)])


# Every text field of every record type: (its path in the record, the record holding `value` there).
POS_TEXT_FIELDS = {
    "lines[0].description": lambda value: _sale_lines({"description": value}, {}),
    "lines[1].sku": lambda value: _sale_lines({}, {"sku": value}),
    "lines[0].tax_category": lambda value: _sale_lines({"tax_category": value}, {}),
    "tenders[1].processor_ref": lambda value: _sale_tenders({}, {"processor_ref": value}),
    "tenders[1].auth_code": lambda value: _sale_tenders({}, {"auth_code": value}),
    "tenders[0].reference": lambda value: _sale_tenders({"reference": value}, {}),
    "cashier": lambda value: _shift_close(cashier=value),
    "detail": lambda value: _device_status(detail=value),
    "rx_number": lambda value: _rx_pickup(rx_number=value),
    "picked_up_by.name": lambda value: _rx_pickup(picked_up_by=value),
}
BARCODE_FIELDS = {"lines[1].sku"}


def _pos_rows(merchant) -> dict:
    with schema_context(merchant.schema_name):
        rows = {model.__name__: model.objects.count()
                for model in (Sale, SaleLine, SaleTaxLine, Tender, ShiftClose, DeviceStatus, Pickup)}
    return {**rows, "OutboxEvent": OutboxEvent.objects.count()}


def test_a_card_number_in_any_text_field_of_any_pos_record_refuses_the_whole_upload(personas, debug_logs):
    # given a terminal, and a card in each text field of each record type in turn, between clean records
    terminal = enrolled(personas.colmado.locations.order_by("code").first())
    corpus = cases("pos-uploads", list(POS_TEXT_FIELDS), POS_UPLOAD_CASES,
                   keep=lambda case: case.field not in BARCODE_FIELDS or not is_gtin(case.value))
    findings = Findings("POST /api/pos/v1/uploads")
    before = _pos_rows(personas.colmado)

    for case in corpus:
        # when
        records = [sale_record(), POS_TEXT_FIELDS[case.field](case.value), _device_status()]
        response = terminal.client.post("/api/pos/v1/uploads", {"records": records}, format="json")

        # then the whole batch is refused, naming the record and field
        refused_with(findings, case, response, field=f"records[1].{case.field}")

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, _pos_rows(personas.colmado))


def _placed(kind: str, value: str, slot: int) -> tuple[str, dict]:
    """Where a must-pass value goes: a barcode in a declared barcode field (a line's sku); an Rx
    number in its own field when it has that field's shape; anything else in a free-text field,
    in turn. Returns (field, record)."""
    field_name, _ = MUST_PASS[kind]
    if field_name in ("barcode", "upc", "gtin"):
        return "sku", _sale_lines({}, {"sku": value})
    if kind == "rx_number" and re.fullmatch(r"[0-9A-Za-z-]{1,20}", value) and slot % 2:
        return "rx_number", _rx_pickup(rx_number=value)
    free_text = [
        ("description", lambda: _sale_lines({"description": value}, {})),
        ("sku", lambda: _sale_lines({}, {"sku": value})),
        ("processor_ref", lambda: _sale_tenders({}, {"processor_ref": value})),
        ("reference", lambda: _sale_tenders({"reference": value}, {})),
        ("auth_code", lambda: _sale_tenders({}, {"auth_code": value})),
        ("cashier", lambda: _shift_close(cashier=value)),
        ("detail", lambda: _device_status(detail=value)),
    ]
    fitting = [(name, make) for name, make in free_text if name != "auth_code" or len(value) <= 20]
    name, make = fitting[slot % len(fitting)]
    return name, make()


def _stored_texts(merchant) -> dict[str, set[str]]:
    with schema_context(merchant.schema_name):
        return {
            "description": set(SaleLine.objects.values_list("description", flat=True)),
            "sku": set(SaleLine.objects.values_list("sku", flat=True)),
            "processor_ref": set(Tender.objects.values_list("processor_ref", flat=True)),
            "reference": set(Tender.objects.values_list("reference", flat=True)),
            "auth_code": set(Tender.objects.values_list("auth_code", flat=True)),
            "cashier": set(ShiftClose.objects.values_list("cashier", flat=True)),
            "detail": set(DeviceStatus.objects.values_list("detail", flat=True)),
            "rx_number": {pickup.phi["rx_number"] for pickup in Pickup.objects.all()},
        }


def test_real_pos_data_of_every_kind_is_accepted_in_the_text_fields_and_stored_as_sent(personas):
    # given every kind of real POS data that must pass, spread over the records' text fields
    terminal = enrolled(personas.colmado.locations.order_by("code").first())
    rng = random.Random(f"{SEED}:pos-must-pass")
    refused: list[str] = []
    sent: list[tuple[str, str, str]] = []  # (kind, field, value)

    for kind in MUST_PASS:
        placed = [(*_placed(kind, value, slot), value) for slot, value in enumerate(must_pass_values(kind, rng,
                                                                                                     MUST_PASS_PER_KIND))]
        # when uploaded (a refusal names the record: it is reported and the rest sent again)
        response = terminal.client.post("/api/pos/v1/uploads", {"records": [record for _, record, _ in placed]},
                                        format="json")
        while response.status_code == 422 and len(placed) > 1:
            index = int(re.match(r"records\[(\d+)\]", next(iter(json_error(response)["fields"]))).group(1))
            field, _, value = placed.pop(index)
            refused.append(f"{kind} in {field}: {value!r}")
            response = terminal.client.post("/api/pos/v1/uploads", {"records": [record for _, record, _ in placed]},
                                            format="json")

        # then every record is stored
        assert response.status_code == 200, (kind, response.content)
        statuses = [result["status"] for result in response.json()["results"]]
        assert statuses == ["stored"] * len(placed), (kind, response.json()["results"])
        sent.extend((kind, field, value) for field, _, value in placed)

    assert not refused, f"{len(refused)} real POS values refused:\n" + "\n".join(refused)
    stored = _stored_texts(personas.colmado)
    shown = {"ndc": lambda value: value.replace("-", "")}  # stored as its digits
    missing = [(kind, field, value) for kind, field, value in sent
               if shown.get(field, lambda value: value)(value) not in stored[field]]
    assert not missing, missing
    assert len(sent) == len(MUST_PASS) * MUST_PASS_PER_KIND
    assert card_data_scan(requested_by="test").hit_count == 0


def test_a_card_number_in_the_terminal_app_version_header_is_refused_and_not_stored(personas, debug_logs):
    # given a terminal calling in: the X-POS-App-Version header of every call is stored on the terminal
    terminal = enrolled(personas.colmado.locations.order_by("code").first())
    terminal.client.get("/api/pos/v1/config", HTTP_X_POS_APP_VERSION="possync 4.3.0")
    assert Terminal.objects.get(pk=terminal.terminal.pk).app_version == "possync 4.3.0"
    corpus = cases("app-version-header", ["X-POS-App-Version"], OTHER_PATH_CASES, keep=fits_a_header)
    findings = Findings("GET /api/pos/v1/config")
    before = {"Terminal": Terminal.objects.count()}

    for case in corpus:
        # when a card number is in it
        response = terminal.client.get("/api/pos/v1/config", HTTP_X_POS_APP_VERSION=case.value)

        # then
        refused_with(findings, case, response)
        if find_card_data(Terminal.objects.get(pk=terminal.terminal.pk).app_version) is not None:
            findings.add(case, "the terminal's app_version holds a card number")

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, {"Terminal": Terminal.objects.count()})


# --- Terminal enrollment ----------------------------------------------------------------------

def _throttle_cleared() -> None:
    """The enrollment rate limit counts requests per address in Redis: cleared before each one, so
    the corpus meets the card guard, not the throttle."""
    cache.delete(ScopedRateThrottle.cache_format % {"scope": "pos-enroll", "ident": "127.0.0.1"})


def test_a_card_number_in_a_terminal_enrollment_is_refused_and_the_code_stays_usable(personas, debug_logs):
    # given a valid one-time code: only the card can be the reason for a refusal
    location = personas.colmado.locations.order_by("code").first()
    enrollment, code = enrollment_code_create(location=location)
    client = APIClient()
    corpus = cases("enrollment", ["name", "name", "name", "app_version"], ENROLLMENT_CASES)
    findings = Findings("POST /api/pos/v1/enroll")
    before = {"Terminal": Terminal.objects.count(), "EnrollmentCode": EnrollmentCode.objects.count()}

    for case in corpus:
        _throttle_cleared()
        posted = {"code": code, "name": "Caja 1", "app_version": "possync 4.2.0", case.field: case.value}
        response = client.post("/api/pos/v1/enroll", posted, format="json")
        refused_with(findings, case, response, field=case.field)

    assert EnrollmentCode.objects.get(pk=enrollment.pk).used_at is None
    after = {"Terminal": Terminal.objects.count(), "EnrollmentCode": EnrollmentCode.objects.count()}
    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, after)
    _throttle_cleared()
    enrolled_now = client.post("/api/pos/v1/enroll", {"code": code, "name": "Caja 1"}, format="json")
    assert enrolled_now.status_code == 201  # the code was never spent on a refused request
    _throttle_cleared()
