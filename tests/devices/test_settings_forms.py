"""POS and device settings edited through forms generated from each setting's JSON Schema: a select
of a device's alternatives (`oneOf` by connection type, not set up), their fields, enums, booleans,
numbers and lists; every bad input refused at its field with nothing stored.

Posts are made as a browser without JavaScript makes them: every input the page rendered for the
setting (every alternative's fields included), with the ones a person changed. Input names are
field paths; an alternative's select is "<path>@" and its fields "<path>@<alternative>.<name>".
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.http import QueryDict
from django.test import Client

from devices import cascade
from devices.models import SettingValue
from integrations.schema_forms import schema_fields, values_from_post

BANNER = "Not saved: fix the fields marked."
TCP_HOST = "@1.connection@tcp.host"


class _FormInputs(HTMLParser):
    """What a browser posts for a form: (name, value) of each input, the selected option of each
    select and each checked checkbox."""

    def __init__(self):
        super().__init__()
        self.posted: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name"):
            if attrs.get("type") != "checkbox" or "checked" in attrs:
                self.posted.append((attrs["name"], attrs.get("value", "on")))
        elif tag == "select":
            self._select, self._options = attrs["name"], []
        elif tag == "option" and self._select:
            self._options.append((attrs["value"], "selected" in attrs))

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected] or [self._options[0][0]]
            self.posted.append((self._select, chosen[0]))
            self._select = None


def _row(page: str, key: str) -> str:
    slug = key.replace(".", "")
    return re.search(rf'<tr id="setting-{re.escape(slug)}".*?</tr>', page, re.S).group(0)


def _filled(page, key: str, **changed) -> dict[str, list[str]]:
    """The setting's form as rendered, with `changed` ({input name: value, or a list for checkboxes})."""
    parser = _FormInputs()
    parser.feed(_row(page.content.decode(), key))
    posted: dict[str, list[str]] = {}
    for name, value in parser.posted:
        posted.setdefault(name, []).append(value)
    for name, value in changed.items():
        posted[name] = value if isinstance(value, list) else [value]
    return posted


def _field_errors(page, key: str, name: str) -> str:
    """The messages shown at input `name` of the setting's form, checked to be tied to it."""
    html = page.content.decode()
    prefix = key.replace(".", "")
    target = f'aria-invalid="true" aria-describedby="e-{prefix}-{name}"'
    assert target in html, f"{name} is not marked invalid"
    return re.search(rf'<div id="e-{re.escape(prefix)}-{re.escape(name)}">(.*?)</div>', html, re.S).group(1)


@pytest.fixture
def merchant_page(personas):
    pharmacy = personas.pharmacies[0]
    client = Client()
    client.force_login(personas.merchant_admin)
    return client, f"/portal/m/{pharmacy.slug}/settings/", pharmacy


def _stored(merchant, key: str):
    row = SettingValue.objects.filter(merchant=merchant, definition__key=key).first()
    return row.value if row else None


def test_a_device_setting_renders_a_select_of_its_alternatives_and_every_alternatives_fields(merchant_page):
    client, url, _ = merchant_page

    row = _row(client.get(url).content.decode(), "devices.receipt_printer")

    assert '<select id="f-devicesreceipt_printer-@" name="@" data-branch-select>' in row
    assert '<option value="null" selected>Not set up</option>' in row
    # Without JavaScript every connection type's fields are there, each under its own legend.
    for branch, label, field in (("tcp", "Network (TCP)", "host"), ("usb", "USB", "device"),
                                 ("bluetooth", "Bluetooth", "address")):
        assert f'<fieldset class="schema-branch" data-branch="{branch}"><legend>Connection: {label}</legend>' in row
        assert f'name="@1.connection@{branch}.{field}"' in row
    assert 'name="@1.cash_drawer_kick" checked' in row  # a boolean is a checkbox, its default on
    assert '<option value="80" selected>80</option>' in row  # an integer enum is a select
    assert 'name="@1.connection@tcp.type"' not in row  # the alternative says it: never asked


def test_a_receipt_printer_set_up_over_tcp_is_stored_as_its_json_and_shown_again(merchant_page):
    client, url, pharmacy = merchant_page
    posted = _filled(client.get(url), "devices.receipt_printer", **{
        "@": "1", "@1.model": "epson_tm_t88", "@1.connection@": "tcp", TCP_HOST: "192.168.1.40",
        "@1.connection@usb.device": "ignored: USB is not the one chosen"})

    saved = client.post(url, posted)

    assert saved.status_code == 302 and saved.url == url
    assert _stored(pharmacy, "devices.receipt_printer") == {
        "model": "epson_tm_t88", "connection": {"type": "tcp", "host": "192.168.1.40", "port": 9100},
        "paper_width_mm": 80, "cash_drawer_kick": True}
    row = _row(client.get(url).content.decode(), "devices.receipt_printer")
    assert '<option value="1" selected>Set up</option>' in row and 'value="192.168.1.40"' in row
    assert '<option value="tcp" selected>Network (TCP)</option>' in row


def test_a_payment_terminal_switched_to_a_serial_port_stores_the_serial_fields_only(merchant_page):
    client, url, pharmacy = merchant_page
    cascade.setting_value_set(key="devices.payment_terminal", owner=pharmacy, value={
        "vendor": "pax", "connection": {"type": "tcp", "host": "10.0.0.5", "port": 10009}})

    client.post(url, _filled(client.get(url), "devices.payment_terminal", **{
        "@1.vendor": "ingenico", "@1.connection@": "serial", "@1.connection@serial.port": "COM3",
        "@1.connection@serial.baud": "19200"}))

    assert _stored(pharmacy, "devices.payment_terminal") == {
        "vendor": "ingenico",
        "connection": {"type": "serial", "port": "COM3", "baud": 19200, "parity": "none", "data_bits": 8,
                       "stop_bits": 1}}


def test_a_customer_display_is_chosen_by_its_kind_and_not_set_up_stores_null(merchant_page):
    client, url, pharmacy = merchant_page
    page = client.get(url)
    assert '<label for="f-devicescustomer_display-@">Kind of display</label>' in _row(page.content.decode(),
                                                                           "devices.customer_display")

    client.post(url, _filled(page, "devices.customer_display", **{
        "@": "second_screen", "@second_screen.url": "https://display.example.com/till-1"}))
    assert _stored(pharmacy, "devices.customer_display") == {"kind": "second_screen",
                                                             "url": "https://display.example.com/till-1"}

    client.post(url, _filled(client.get(url), "devices.customer_display", **{"@": "null"}))
    assert SettingValue.objects.get(merchant=pharmacy, definition__key="devices.customer_display").value is None


def test_the_barcode_scanners_enter_suffix_and_empty_prefix_survive_a_save(merchant_page):
    client, url, pharmacy = merchant_page
    page = client.get(url)
    row = _row(page.content.decode(), "devices.barcode_scanner")
    # A text input cannot hold a carriage return: it is shown escaped, and said so.
    assert 'name="suffix" value="\\r"' in row and "Written with escapes: \\r is Enter" in row

    client.post(url, _filled(page, "devices.barcode_scanner"))
    assert _stored(pharmacy, "devices.barcode_scanner") == {"prefix": "", "suffix": "\r"}

    client.post(url, _filled(client.get(url), "devices.barcode_scanner", prefix="]C1", suffix="\\t"))
    assert _stored(pharmacy, "devices.barcode_scanner") == {"prefix": "]C1", "suffix": "\t"}


def test_offline_tenders_are_a_checkbox_each_and_the_ones_left_checked_are_stored(merchant_page):
    client, url, pharmacy = merchant_page

    client.post(url, _filled(client.get(url), "payments.offline.tenders", value=["cash", "charge_account"]))

    assert _stored(pharmacy, "payments.offline.tenders") == ["cash", "charge_account"]


def test_scalar_settings_are_one_input_named_value(merchant_page):
    client, url, pharmacy = merchant_page
    page = client.get(url)
    assert '<option value="en" >English</option>' in _row(page.content.decode(), "pos.language")  # x-enumNames

    client.post(url, _filled(page, "pos.sync.config_poll_seconds", value="120"))
    client.post(url, _filled(client.get(url), "pos.language", value="en"))

    assert _stored(pharmacy, "pos.sync.config_poll_seconds") == 120
    assert _stored(pharmacy, "pos.language") == "en"


def test_numbers_lists_of_scalars_and_nested_objects_are_read_back_as_their_json_types():
    schema = {"type": "object", "required": ["drawer"], "properties": {
        "tare_kg": {"type": "number"}, "lanes": {"type": "array", "items": {"type": "integer"}},
        "drawer": {"type": "object", "title": "Cash drawer", "properties": {"kick": {"type": "boolean"}}}}}

    fields = {f.name: f for f in schema_fields(schema, {"tare_kg": 0.25, "lanes": [1, 2]})}

    assert [(f.kind, f.value, f.group) for f in fields.values()] == [
        ("checkbox", None, "Cash drawer"), ("number", 0.25, ""), ("list", "1, 2", "")]
    assert list(fields) == ["drawer.kick", "tare_kg", "lanes"]  # the required ones first: jsonb keeps no order
    assert values_from_post(schema, QueryDict("tare_kg=1.5&lanes=3,%204&drawer.kick=on")) == {
        "tare_kg": 1.5, "lanes": [3, 4], "drawer": {"kick": True}}


# Each bad input: a 422 at the page's own address, the banner once, the message once at its field
# (marked invalid), the rest of the input kept, and nothing stored.

PAYMENT_TERMINAL_TCP = {"@": "1", "@1.vendor": "pax", "@1.connection@": "tcp", "@1.connection@tcp.host": "10.0.0.5",
                        "@1.connection@tcp.port": "10009"}
BAD_INPUTS = [
    pytest.param("devices.payment_terminal", {"@1.connection@tcp.port": "ten thousand"}, "@1.connection@tcp.port",
                 "Must be a whole number.", "ten thousand", id="wrong type"),
    pytest.param("devices.payment_terminal", {"@1.connection@tcp.port": "70000"}, "@1.connection@tcp.port",
                 "The value is greater than the maximum of 65535", "70000", id="out of range"),
    pytest.param("pos.sync.config_poll_seconds", {"value": "5"}, "value",
                 "The value is less than the minimum of 30", 'value="5"', id="out of range at the top"),
    pytest.param("devices.payment_terminal", {"@1.vendor": "nokia"}, "@1.vendor",
                 "Choose one of: pax, ingenico, verifone.", "10.0.0.5", id="unknown enum value"),
    pytest.param("payments.offline.tenders", {"value": ["cash", "credit_card"]}, "value",
                 "Choose one of: cash, check, charge_account.", "cash", id="unknown list value"),
    pytest.param("devices.payment_terminal", {"@1.connection@tcp.host": ""}, "@1.connection@tcp.host",
                 "This field is required.", "10009", id="branch field missing"),
    pytest.param("devices.payment_terminal", {"@1.vendor": "ingenico", "@1.connection@": "serial"},
                 "@1.connection@serial.port", "This field is required.", '<option value="ingenico" selected>',
                 id="other branch field missing"),
    pytest.param("devices.payment_terminal", {"@1.connection@": "serial", "@1.connection@serial.port": "LPT1"},
                 "@1.connection@serial.port", "Not in the expected format. COM3 on Windows", "LPT1",
                 id="branch field malformed"),
]


@pytest.mark.parametrize(("key", "changed", "field", "message", "kept"), BAD_INPUTS)
def test_a_bad_input_is_refused_at_its_field_and_nothing_is_stored(merchant_page, key, changed, field, message,
                                                                   kept):
    client, url, pharmacy = merchant_page
    base = PAYMENT_TERMINAL_TCP if key == "devices.payment_terminal" else {}
    posted = _filled(client.get(url), key, **(base | changed))

    refused = client.post(url, posted)

    html = refused.content.decode()
    assert refused.status_code == 422 and refused.request["PATH_INFO"] == url
    assert html.count(BANNER) == 1
    assert message in _field_errors(refused, key, field)
    assert html.count(message) == 1
    assert kept in _row(html, key)
    assert 'class="invalid"' in re.search(r'<tr id="setting-[^"]*"[^>]*>', _row(html, key)).group(0)
    assert not SettingValue.objects.filter(merchant=pharmacy).exists()
    assert client.get(url).status_code == 200  # the address answers a reload too


@pytest.mark.security
def test_a_card_number_in_a_device_field_is_refused_at_that_field_and_never_shown_back(merchant_page):
    client, url, pharmacy = merchant_page
    posted = _filled(client.get(url), "devices.payment_terminal",
                     **(PAYMENT_TERMINAL_TCP | {"@1.connection@tcp.host": "4111 1111 1111 1111"}))

    refused = client.post(url, posted)

    html = refused.content.decode()
    assert refused.status_code == 422 and html.count(BANNER) == 1
    assert "looks like card data" in _field_errors(refused, "devices.payment_terminal", "@1.connection@tcp.host")
    assert "1111 1111" not in html
    assert '<option value="pax" selected>' in html and 'value="10009"' in html  # the rest is kept
    assert not SettingValue.objects.filter(merchant=pharmacy).exists()


def test_a_partner_lock_set_in_the_form_holds_below_and_clearing_goes_back_to_the_level_above(personas):
    pharmacy = personas.pharmacies[0]
    location = pharmacy.locations.order_by("code").first()
    partner = Client()
    partner.force_login(personas.partner_admin)
    partner_url = f"/portal/p/{personas.partner.slug}/settings/"
    partner.post(partner_url, _filled(partner.get(partner_url), "pos.sync.upload_batch_size", value="250",
                                      locked="on"))
    merchant = Client()
    merchant.force_login(personas.merchant_admin)
    location_url = f"/portal/m/{pharmacy.slug}/settings/{location.pk}/"

    page = merchant.get(location_url)
    rows = {row["definition"].key: row for row in page.context["rows"]}
    assert rows["pos.sync.upload_batch_size"]["locked_above"] == "Partner"
    assert (rows["pos.sync.upload_batch_size"]["effective"].value, rows["pos.sync.upload_batch_size"]["effective"]
            .source) == (250, "partner")

    merchant.post(location_url, _filled(page, "pos.sync.config_poll_seconds", value="90"))
    assert cascade.resolve(location)["pos.sync.config_poll_seconds"].source == "location"
    merchant.post(location_url, _filled(merchant.get(location_url), "pos.sync.config_poll_seconds", action="clear"))
    assert cascade.resolve(location)["pos.sync.config_poll_seconds"].source == "system"
    assert not SettingValue.objects.filter(location=location).exists()


def test_a_device_form_reads_in_spanish_labels_choices_and_alternatives_included(merchant_page):
    client, url, _ = merchant_page
    client.post("/portal/language/", {"language": "es", "next": "/"})

    row = _row(client.get(url).content.decode(), "devices.receipt_printer")

    assert "<legend>Conexión: Red (TCP)</legend>" in row and "Ancho del papel (mm)" in row
    assert "Epson TM-T88 (ESC/POS)" in row and "Abre la gaveta de efectivo" in row
    assert "Paper width" not in row and "Connection" not in row
