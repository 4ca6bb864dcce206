"""Card numbers pushed through every inbound path, not only the guard function.

Each path gets a generated corpus (tests/card_corpus.py): a fresh card number of some network in
every grouping, with every separator and some context, put in each of the path's text fields in
turn. Each must be refused with the path's own clear error (422 naming the field: JSON for the
APIs, the form again for portal pages), with the card's digits nowhere in the answer (as sent,
digits only, HTML- or JSON-escaped) and nowhere in the logs (DEBUG), and nothing of the request
stored: row counts unchanged and a card data scan of every schema finding nothing. Real POS data
(barcodes, NDC and Rx numbers, phones, UUIDs, last 4, masked cards, references, times) must pass
where it arrives and be stored as sent.

The paths: POS uploads and enrollment, the terminal's app version header, Shopify webhooks (body
and the headers stored with it), integration configuration and credentials, webhook endpoints,
partner templates, POS settings, the mappings editor, the OAuth callback and SURI's confirmation
number.

Every corpus comes from a seeded generator, so a failure names a reproducible case (path, case
index, field, grouping) without printing a card number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import random
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from compliance.scan import card_data_scan
from devices.models import EnrollmentCode, SettingValue, Terminal
from devices.terminals import enrollment_code_create
from events.models import OutboxEvent
from integrations.models import IntegrationMapping, MerchantIntegration
from integrations.services import configuring, enabling, transitions
from merchants.store.models import DeviceStatus, RxPickup, Sale, SaleLine, SaleTaxLine, ShiftClose, Tender
from partners.models import PartnerIntegrationTemplate
from qiiub.card_guard import GTIN_LENGTHS, find_card_data, gs1_check_digit_valid
from qiiub.logs import KeyValueFormatter
from qiiub.models import VaultSecret
from taxes.filings import filing_prepare
from taxes.models import IvuFiling
from tests.card_corpus import GROUPINGS, MUST_PASS, card_in_grouping, must_pass_values
from tests.devices.conftest import enrolled, sale_record
from tests.factories import ACUMATICA_CONFIG, definition, oauth_consent, quickbooks_connected, quickbooks_enabled
from webhooks.models import InboundWebhook, WebhookEndpoint

pytestmark = [pytest.mark.security, pytest.mark.slow]

SEED = 20261125
# Cases per path: every (field, grouping) pair several times over. An API request costs a few ms;
# a portal page renders a whole page per refusal (20-30 ms), so their corpora are nearer 300.
POS_UPLOAD_CASES = 560  # 10 fields x 7 groupings x 8
ENROLLMENT_CASES = 420
SHOPIFY_WEBHOOK_CASES = 420
WEBHOOK_ENDPOINT_CASES = 315
CONFIGURATION_CASES = 294  # 6 fields (4 of the configuration, 2 of the credentials) x 7 groupings x 7
TEMPLATE_CASES = 315
SETTINGS_CASES = 300
MAPPING_CASES = 300
# Paths outside the guard's list so far (headers, the OAuth redirect, SURI's confirmation number).
OTHER_PATH_CASES = 70
MUST_PASS_PER_KIND = 30  # x 12 kinds through the POS uploads
MUST_PASS_WEBHOOK_PER_KIND = 8  # x 12 kinds through the Shopify webhook
CARD_REFUSED = "looks like card data"


@dataclass(frozen=True)
class Case:
    index: int
    field: str
    grouping: str
    pan: str
    value: str

    def __str__(self) -> str:  # what a failure shows: never the card itself
        return f"case {self.index} ({self.field}, {self.grouping})"


def cases(path: str, fields: list[str], count: int, *, keep=lambda case: True) -> list[Case]:
    """`count` cases over every (field, grouping) pair in turn, each with a fresh card number.
    `keep` drops the values a field cannot carry (regenerated from the same seeded stream)."""
    rng = random.Random(f"{SEED}:{path}")
    groupings = list(GROUPINGS)
    made: list[Case] = []
    for index in range(count):
        field = fields[index % len(fields)]
        grouping = groupings[(index // len(fields)) % len(groupings)]
        while True:
            pan, value = card_in_grouping(grouping, rng)
            case = Case(index, field, grouping, pan, value)
            if keep(case):
                break
        made.append(case)
    if count >= len(fields) * len(groupings):
        assert {(case.field, case.grouping) for case in made} == {(f, g) for f in fields for g in groupings}
    return made


def is_gtin(value: str) -> bool:
    """A value the guard lets through in a declared barcode field by design: a GTIN whose own GS1
    check digit is right (about one card number in ten written unbroken at 13 or 14 digits)."""
    return value.isdigit() and len(value) in GTIN_LENGTHS and gs1_check_digit_valid(value)


def fits_a_header(case: Case) -> bool:
    """HTTP header values are one line of Latin-1."""
    return "\n" not in case.value and "\r" not in case.value and case.value.isascii()


def readable(text: str) -> str:
    """The text as a person would read it: JSON and HTML escapes undone, full-width digits as ASCII."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda match: chr(int(match.group(1), 16)), text)
    return unicodedata.normalize("NFKC", html.unescape(text))


class Haystack:
    """A response or the logs, searched for each card in every shape: as sent, stripped, digits
    only, HTML- or JSON-escaped, and its digits with anything at all in between removed."""

    def __init__(self, *texts: str):
        self.texts = [text for text in texts if text]
        self.digits = re.sub(r"\D", "", readable(" ".join(self.texts)))
        self.readable = readable(" ".join(self.texts))

    def shows(self, case: Case) -> str | None:
        shapes = {
            "as sent": case.value, "stripped": case.value.strip(), "digits only": case.pan,
            "HTML-escaped": html.escape(case.value), "HTML-escaped, stripped": html.escape(case.value.strip()),
            "JSON-escaped": json.dumps(case.value)[1:-1], "JSON-escaped, stripped": json.dumps(case.value.strip())[1:-1],
        }
        for name, shape in shapes.items():
            if any(shape in text for text in self.texts):
                return f"the card {name}"
        if case.value.strip() in self.readable:
            return "the card as sent, once unescaped"
        if case.pan in self.digits:
            return "the card's digits, separators removed"
        return None


def response_haystack(response) -> Haystack:
    body = response.content.decode()
    texts = [body]
    if response.get("Content-Type", "").startswith("application/json"):
        texts.append(json.dumps(response.json(), ensure_ascii=False))
    return Haystack(*texts)


def logs_haystack(caplog) -> Haystack:
    formatter = KeyValueFormatter("%(levelname)s %(name)s %(message)s")
    return Haystack(*(formatter.format(record) for record in caplog.records))


def json_error(response) -> dict:
    """The API error body: {"error": {code, message, fields}} (DRF) or {"error", "message"} (receiver)."""
    body = response.json()
    return body["error"] if isinstance(body.get("error"), dict) else body


def names_field(message: str, field: str) -> bool:
    return f"Field '{field}' {CARD_REFUSED}" in readable(message)


class Findings:
    """What went wrong, case by case, reported together at the end (the first 25)."""

    def __init__(self, path: str):
        self.path, self.problems = path, []

    def add(self, case: Case, problem: str) -> None:
        self.problems.append(f"{self.path} {case}: {problem}")

    def check_echo(self, case: Case, haystack: Haystack, where: str) -> None:
        if shown := haystack.shows(case):
            self.add(case, f"{where} holds {shown}")

    def assert_none(self) -> None:
        # the totals first (rows, scan), then the first cases
        shown = sorted(self.problems, key=lambda problem: " case " in problem)[:25]
        assert not self.problems, f"{len(self.problems)} problems:\n" + "\n".join(shown)


def refused_with(findings: Findings, case: Case, response, *, status: int = 422, field: str | None = None,
                 api: bool = True) -> None:
    """The path's clear refusal: a 422 naming the field, and the card nowhere in the answer."""
    if response.status_code != status:
        findings.add(case, f"answered {response.status_code}, not {status}")
    if api:
        error = json_error(response) if response.get("Content-Type", "").startswith("application/json") else {}
        if error.get("code", error.get("error")) != "card_data_rejected":
            findings.add(case, f"error code {error.get('code', error.get('error'))!r}, not card_data_rejected")
        elif field is not None and not names_field(error.get("message", ""), field):
            findings.add(case, f"the message does not name {field!r}: {error.get('message', '')[:80]!r}")
        if field is not None and "fields" in error and field not in error["fields"]:
            findings.add(case, f"the error's fields are {sorted(error['fields'])}, not {field!r}")
    elif field is not None and not names_field(response.content.decode(), field):
        findings.add(case, f"the page does not say field {field!r} {CARD_REFUSED}")
    findings.check_echo(case, response_haystack(response), "the answer")


def assert_nothing_stored_and_not_logged(findings: Findings, corpus: list[Case], caplog, before: dict, after: dict):
    """After the corpus: the rows it could have written are as they were, the logs hold none of the
    cards, and a card data scan of every schema finds nothing."""
    logs = logs_haystack(caplog)
    for case in corpus:
        findings.check_echo(case, logs, "the logs")
    if after != before:
        findings.problems.append(f"{findings.path}: rows changed: {before} -> {after}")
    scan = card_data_scan(requested_by="test")
    if scan.hit_count:
        stored = sorted({f"{hit.schema}.{hit.table}.{hit.column} {hit.path}".strip() for hit in scan.hits.all()})
        findings.problems.append(f"{findings.path}: the card data scan found {scan.hit_count} card numbers in {stored}")
    findings.assert_none()


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- 1. POS uploads --------------------------------------------------------------------------------

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
    return {"type": "rx_pickup", "client_uuid": str(uuid.uuid4()), "rx_number": "6012345", "fill_number": 1,
            "ndc": "0071-0155-23", "quantity": "30", "copay": "5.00", "picked_up_at": timezone.now().isoformat(),
            **changes}


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
    "ndc": lambda value: _rx_pickup(ndc=value),
}
BARCODE_FIELDS = {"lines[1].sku"}


def _pos_rows(merchant) -> dict:
    with schema_context(merchant.schema_name):
        rows = {model.__name__: model.objects.count()
                for model in (Sale, SaleLine, SaleTaxLine, Tender, ShiftClose, DeviceStatus, RxPickup)}
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
    """Where a must-pass value goes: a barcode in a declared barcode field (a line's sku); an Rx or
    NDC number in its own field when it has that field's shape; anything else in a free-text field,
    in turn. Returns (field, record)."""
    field_name, _ = MUST_PASS[kind]
    if field_name in ("barcode", "upc", "gtin"):
        return "sku", _sale_lines({}, {"sku": value})
    if kind == "rx_number" and re.fullmatch(r"[0-9A-Za-z-]{1,20}", value) and slot % 2:
        return "rx_number", _rx_pickup(rx_number=value)
    if kind == "ndc" and re.fullmatch(r"[0-9]{4,5}-?[0-9]{3,4}-?[0-9]{1,2}", value) and slot % 2:
        return "ndc", _rx_pickup(ndc=value)
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
            "rx_number": set(RxPickup.objects.values_list("rx_number", flat=True)),
            "ndc": set(RxPickup.objects.values_list("ndc", flat=True)),
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


# --- 2. Inbound Shopify webhooks ---------------------------------------------------------------

WEBHOOK_SECRET = "shpss_inbound_paths_secret"
ORDER = {"id": 820982911946154508, "note": "Entregar en la tarde", "email": "cliente@example.com",
         "line_items": [{"id": 466157049, "sku": "CAFE-1LB", "title": "Café Yaucono", "name": "Café Yaucono - 1 lb",
                         "quantity": 2}],
         "note_attributes": [{"name": "gift_message", "value": "Feliz cumpleaños"}],
         "shipping_address": {"address1": "Calle Loíza 1500", "city": "San Juan", "zip": "00911"}}


@pytest.fixture
def shopify(personas):
    integration = enabling.merchant_integration_enable(merchant=personas.colmado,
                                                        definition=definition("ecommerce.shopify"), by=None)
    integration = configuring.merchant_integration_configure(
        integration=integration, configuration={"shop_domain": "colmado-rivera.myshopify.com"}, by=None)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"admin_api_token": "shpat_demo", "webhook_secret": WEBHOOK_SECRET},
        by=None)
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    return transitions.merchant_integration_activate(integration=integration, by=None)


def _signed(body: bytes, *, webhook_id: str | None = None, topic: str = "orders/create") -> dict:
    signature = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "HTTP_X_SHOPIFY_HMAC_SHA256": signature, "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id or str(uuid.uuid4()),
        "HTTP_X_SHOPIFY_TOPIC": topic, "HTTP_X_SHOPIFY_SHOP_DOMAIN": "colmado-rivera.myshopify.com",
        "HTTP_X_SHOPIFY_TRIGGERED_AT": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def _post_webhook(client, integration, order: dict, **headers):
    body = json.dumps(order, ensure_ascii=False).encode()
    return client.post(reverse("inbound-webhook", args=[integration.pk]), data=body, content_type="application/json",
                       **(headers or _signed(body)))


def _with(order: dict, field: str, value) -> dict:
    """A copy of the order with `field` (a dotted path with [index]) set to `value`."""
    order = json.loads(json.dumps(order))
    *parents, last = re.findall(r"[^.\[\]]+", field)
    target = order
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return order


SHOPIFY_TEXT_FIELDS = ["note", "line_items[0].title", "line_items[0].name", "note_attributes[0].value",
                       "shipping_address.address1"]


def test_a_signed_shopify_webhook_carrying_a_card_number_is_refused_and_nothing_is_stored(client, shopify,
                                                                                           debug_logs):
    corpus = cases("shopify-webhook", SHOPIFY_TEXT_FIELDS, SHOPIFY_WEBHOOK_CASES)
    findings = Findings("POST /hooks/in/<id>/ (Shopify)")
    before = {"InboundWebhook": InboundWebhook.objects.count()}

    for case in corpus:
        response = _post_webhook(client, shopify, _with(ORDER, case.field, case.value))
        refused_with(findings, case, response, field=f"body.{case.field}")

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before,
                                         {"InboundWebhook": InboundWebhook.objects.count()})


def test_real_order_data_of_every_kind_in_a_signed_shopify_webhook_is_accepted_and_stored(client, shopify):
    rng = random.Random(f"{SEED}:shopify-must-pass")
    refused = []
    for kind, (field_name, _) in MUST_PASS.items():
        for value in must_pass_values(kind, rng, MUST_PASS_WEBHOOK_PER_KIND):
            # a barcode where Shopify sends one (a line item's sku or barcode), the rest in the note
            if field_name in ("barcode", "upc", "gtin"):
                order = _with(ORDER, "line_items[0].sku", value)
            else:
                order = _with(ORDER, "note", value)
            webhook_id = str(uuid.uuid4())
            body = json.dumps(order, ensure_ascii=False).encode()
            response = _post_webhook(client, shopify, order, **_signed(body, webhook_id=webhook_id))
            if response.status_code != 200:
                refused.append(f"{kind}: {value!r} answered {response.status_code}")
            elif json.loads(InboundWebhook.objects.get(vendor_webhook_id=webhook_id).body) != order:
                refused.append(f"{kind}: {value!r} not stored as sent")
    assert not refused, "\n".join(refused)
    assert InboundWebhook.objects.count() == len(MUST_PASS) * MUST_PASS_WEBHOOK_PER_KIND


@pytest.mark.parametrize("header", ["X-Shopify-Webhook-Id", "X-Shopify-Topic"])
def test_a_card_number_in_a_stored_shopify_header_is_refused_and_not_stored(client, shopify, debug_logs, header):
    # given a body Shopify signed; the webhook id and topic headers are stored with it, unsigned
    corpus = cases(f"shopify-header-{header}", [header], OTHER_PATH_CASES, keep=fits_a_header)
    findings = Findings(f"POST /hooks/in/<id>/ {header}")
    body = json.dumps(ORDER).encode()
    before = {"InboundWebhook": InboundWebhook.objects.count()}

    for case in corpus:
        headers = _signed(body, webhook_id=case.value) if header == "X-Shopify-Webhook-Id" else _signed(
            body, topic=case.value)
        response = client.post(reverse("inbound-webhook", args=[shopify.pk]), data=body,
                               content_type="application/json", **headers)
        refused_with(findings, case, response)

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before,
                                         {"InboundWebhook": InboundWebhook.objects.count()})


# --- 3. Integration configuration and credentials (merchant portal) ------------------------------

@pytest.fixture
def acumatica(personas):
    integration = enabling.merchant_integration_enable(merchant=personas.colmado,
                                                        definition=definition("erp.acumatica"), by=None)
    return configuring.merchant_integration_configure(integration=integration, configuration=ACUMATICA_CONFIG, by=None)


CONFIGURATION_FIELDS = ["configure:company", "configure:endpoint_version", "configure:instance_url",
                        "configure:poll_every_minutes", "credentials:username", "credentials:password"]


def _configuration_rows(integration) -> dict:
    row = MerchantIntegration.objects.get(pk=integration.pk)
    return {"configuration": row.configuration, "credentials_set_at": row.credentials_set_at,
            "credentials_vault_key": row.credentials_vault_key, "VaultSecret": VaultSecret.objects.count()}


def test_a_card_number_in_an_integration_configuration_or_credentials_form_is_refused(personas, acumatica,
                                                                                       debug_logs):
    client = logged_in(personas.retail_admin)
    corpus = cases("configuration", CONFIGURATION_FIELDS, CONFIGURATION_CASES)
    findings = Findings("portal integration forms")
    before = _configuration_rows(acumatica)

    for case in corpus:
        form, field = case.field.split(":")
        value = f"https://erp.colmado.example.com/{case.value}" if field == "instance_url" else case.value
        if form == "configure":
            posted = {**ACUMATICA_CONFIG, "poll_every_minutes": "30", field: value}
        else:
            posted = {"username": "ops-colmado", "password": "s3cret-Passw0rd", field: value}
        response = client.post(reverse(f"portal:{form}", args=[personas.colmado.slug, acumatica.pk]), posted)
        refused_with(findings, case, response, field=field, api=False)

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, _configuration_rows(acumatica))


# --- 4. Webhook endpoints (merchant portal) ------------------------------------------------------

def test_a_card_number_in_a_webhook_endpoint_description_or_url_is_refused(personas, debug_logs):
    client = logged_in(personas.retail_admin)
    corpus = cases("webhook-endpoint", ["description", "description", "url"], WEBHOOK_ENDPOINT_CASES)
    findings = Findings("portal webhook endpoint form")
    before = {"WebhookEndpoint": WebhookEndpoint.objects.count(), "VaultSecret": VaultSecret.objects.count()}

    for case in corpus:
        posted = {"url": "https://hooks.example.com/qiiub", "description": "Orders to the ERP",
                  "event_types": ["sale.completed"]}
        posted[case.field] = f"https://hooks.example.com/{case.value}" if case.field == "url" else case.value
        response = client.post(reverse("portal:webhooks", args=[personas.colmado.slug]), posted)
        refused_with(findings, case, response, field=case.field, api=False)

    after = {"WebhookEndpoint": WebhookEndpoint.objects.count(), "VaultSecret": VaultSecret.objects.count()}
    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, after)


def test_a_webhook_endpoint_described_with_real_pos_data_is_created(personas, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # a local receiver: no name to resolve
    client = logged_in(personas.retail_admin)
    rng = random.Random(f"{SEED}:webhook-endpoint-must-pass")
    for kind in ("phone", "reference", "last_four", "masked_card", "moment", "ndc", "rx_number"):
        for value in must_pass_values(kind, rng, 2):
            response = client.post(reverse("portal:webhooks", args=[personas.colmado.slug]), {
                "url": "https://127.0.0.1:8443/qiiub", "description": value, "event_types": ["sale.completed"]})
            assert response.status_code == 200, (kind, value)
            assert WebhookEndpoint.objects.filter(description=value.strip()).exists(), (kind, value)


# --- 5. Terminal enrollment ----------------------------------------------------------------------

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


# --- 6. Other portal forms: partner templates, POS settings, the mappings editor --------------------

TEMPLATE_FIELDS = ["template_name", "company", "endpoint_version", "map:PaymentMethod:CREDIT", "map:Revenue:SALES"]
TEMPLATE_FIELD_NAMES = {"template_name": "name", "company": "company", "endpoint_version": "endpoint_version",
                        "map:PaymentMethod:CREDIT": "target", "map:Revenue:SALES": "target"}


def test_a_card_number_in_a_partner_template_name_configuration_or_mapping_is_refused(personas, debug_logs):
    client = logged_in(personas.partner_admin)
    url = reverse("portal:partner-template-new", args=[personas.partner.slug])
    corpus = cases("partner-template", TEMPLATE_FIELDS, TEMPLATE_CASES)
    findings = Findings("partner template form")
    before = {"PartnerIntegrationTemplate": PartnerIntegrationTemplate.objects.count()}

    for case in corpus:
        if case.field.startswith("map:"):
            posted = {"definition": "accounting.quickbooks_online", "template_name": "Receipts",
                      "posting": "sales_receipt", "map:PaymentMethod:CASH": "35", case.field: case.value}
        else:
            posted = {"definition": "erp.acumatica", "template_name": "Every colmado",
                      "instance_url": "https://erp.example.com", "company": "FSJ", case.field: case.value}
        response = client.post(url, posted)
        refused_with(findings, case, response, field=TEMPLATE_FIELD_NAMES[case.field], api=False)

    after = {"PartnerIntegrationTemplate": PartnerIntegrationTemplate.objects.count()}
    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, after)


SETTINGS_FIELDS = ["pos.receipt.footer", "devices.receipt_printer:model", "devices.receipt_printer:connection.host"]
PRINTER = {"model": "epson_tm_t88", "connection": {"type": "tcp", "host": "192.168.1.40", "port": 9100},
           "cash_drawer_kick": True}


def test_a_card_number_in_a_pos_setting_value_is_refused(personas, debug_logs):
    client = logged_in(personas.retail_admin)
    url = reverse("portal:merchant-settings", args=[personas.colmado.slug])
    corpus = cases("pos-settings", SETTINGS_FIELDS, SETTINGS_CASES)
    findings = Findings("POS settings form")
    before = {"SettingValue": SettingValue.objects.count()}

    for case in corpus:
        key, _, inside = case.field.partition(":")
        if inside:
            value = json.dumps(_with(PRINTER, inside, case.value), indent=2, ensure_ascii=False)
            field = inside
        else:
            value, field = case.value, "value"
        response = client.post(url, {"key": key, "value": value})
        refused_with(findings, case, response, field=field, api=False)

    after = {"SettingValue": SettingValue.objects.count()}
    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, after)


def test_a_receipt_footer_with_real_pos_data_is_saved(personas):
    client = logged_in(personas.retail_admin)
    url = reverse("portal:merchant-settings", args=[personas.colmado.slug])
    rng = random.Random(f"{SEED}:settings-must-pass")
    for kind in ("phone", "reference", "last_four", "masked_card", "moment", "rx_number", "ndc", "uuid"):
        for value in must_pass_values(kind, rng, 2):
            footer = f"Gracias. {value}"
            response = client.post(url, {"key": "pos.receipt.footer", "value": footer})
            assert response.status_code == 302, (kind, value, response.status_code)
            assert SettingValue.objects.get(merchant=personas.colmado, definition__key="pos.receipt.footer").value == \
                footer


def test_a_card_number_in_an_accounting_mapping_is_refused(personas, debug_logs):
    quickbooks = quickbooks_connected(personas.san_juan)
    client = logged_in(personas.merchant_admin)
    url = reverse("portal:mapping-set", args=[personas.san_juan.slug, quickbooks.pk])
    corpus = cases("mapping-editor", ["target", "target", "code"], MAPPING_CASES)
    findings = Findings("mappings editor")

    def mappings() -> list:
        return sorted(IntegrationMapping.objects.filter(merchant_integration=quickbooks).values_list(
            "map_group", "source_code", "target_code"))

    before = {"IntegrationMapping": mappings()}
    for case in corpus:
        posted = {"group": "PaymentMethod", "code": "CHECK", "target": "38", case.field: case.value}
        response = client.post(url, posted, HTTP_HX_REQUEST="true")
        refused_with(findings, case, response, field=case.field, api=False)

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, {"IntegrationMapping": mappings()})


# --- 7. The OAuth callback: what the vendor's redirect carries back -------------------------------

OAUTH_FIELDS = ["realmId", "error"]


def test_a_card_number_in_an_oauth_callback_is_neither_stored_nor_shown(personas, quickbooks_fake, debug_logs):
    # given an admin connecting QuickBooks, and the vendor's redirect carrying a card in the company id
    # (stored with the grant) or in its denial reason (shown to the admin)
    client = logged_in(personas.merchant_admin)
    integration = quickbooks_enabled(personas.san_juan)
    corpus = cases("oauth-callback", OAUTH_FIELDS, OTHER_PATH_CASES)
    findings = Findings("GET /portal/oauth/callback/")

    def rows() -> dict:
        row = MerchantIntegration.objects.get(pk=integration.pk)
        return {"credentials_vault_key": row.credentials_vault_key, "VaultSecret": VaultSecret.objects.count()}

    before = rows()
    for case in corpus:
        start = client.post(reverse("portal:oauth-connect", args=[personas.san_juan.slug, integration.pk]))
        query = {**oauth_consent(start["Location"]), case.field: case.value}
        response = client.get(reverse("portal:oauth-callback"), query, follow=True)
        findings.check_echo(case, response_haystack(response), "the page")
        if case.field == "realmId" and CARD_REFUSED not in response.content.decode():
            findings.add(case, f"the page does not say the company id {CARD_REFUSED}")

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, before, rows())


# --- 8. The IVU return's SURI confirmation number (merchant portal) -------------------------------

SURI_CONFIRMATION = re.compile(r"[A-Za-z0-9-]{4,40}")  # the shape taxes.filings accepts


def test_a_card_number_as_an_ivu_confirmation_number_is_refused(personas, debug_logs):
    # given SURI's return for October, and card numbers in the shape a confirmation number may take
    # (4 to 40 letters, digits or dashes: unbroken or dash-grouped)
    merchant = personas.san_juan
    suri = enabling.merchant_integration_enable(merchant=merchant, definition=definition("tax.suri_ivu"), by=None)
    suri = configuring.merchant_integration_configure(
        integration=suri, configuration={"merchant_registration_number": "1234567"}, by=None)
    filing = filing_prepare(merchant=merchant, period=date(2026, 10, 1))
    client = logged_in(personas.merchant_admin)
    corpus = cases("ivu-confirmation", ["confirmation"], OTHER_PATH_CASES,
                   keep=lambda case: SURI_CONFIRMATION.fullmatch(case.value.strip()) is not None)
    findings = Findings("portal IVU return marked filed")

    for case in corpus:
        response = client.post(reverse("portal:ivu-filed", args=[merchant.slug, suri.pk, filing.pk]),
                               {"confirmation": case.value}, follow=True)
        findings.check_echo(case, response_haystack(response), "the page")
        if CARD_REFUSED not in response.content.decode():
            findings.add(case, f"the page does not say the confirmation number {CARD_REFUSED}")
        stored = IvuFiling.objects.get(pk=filing.pk)
        if stored.filed_at is not None:
            findings.add(case, "the return was marked filed with it")
            IvuFiling.objects.filter(pk=filing.pk).update(filed_at=None, filed_by=None, confirmation="")

    assert_nothing_stored_and_not_logged(findings, corpus, debug_logs, {}, {})


def test_a_signed_webhook_whose_body_repeats_a_key_is_refused_and_not_stored(client, shopify):
    # a parser keeps one of two values of a repeated key while the raw body keeps both: the card in the
    # other one would be stored unseen
    body = b'{"id": 1, "note": "4111 1111 1111 1111", "note": "gracias"}'
    response = client.post(reverse("inbound-webhook", args=[shopify.pk]), data=body, content_type="application/json",
                           **_signed(body))
    assert response.status_code == 400 and "repeats a key" in response.json()["message"]
    assert "4111" not in response.content.decode() and not InboundWebhook.objects.exists()


def test_what_a_system_admin_types_in_the_admin_passes_the_guard(personas):
    from partners.models import Partner

    client = logged_in(personas.sysadmin)
    page = client.post(reverse("admin:partners_partner_add"), {"name": "Tarjeta 4111 1111 1111 1111", "slug": "tarjeta"})
    assert page.status_code == 200 and "This looks like card data" in page.content.decode()
    assert "1111 1111" not in page.content.decode() and not Partner.objects.filter(slug="tarjeta").exists()
