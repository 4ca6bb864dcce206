"""A merchant admin enrolls a terminal and sets up a receipt printer through the form generated from
its schema (its connection type chosen in a select) in Debian chromium; a partner admin locks a
setting for every store."""

import pytest

from devices.models import SettingValue
from tests.browser.conftest import sign_in
from tests.browser.test_merchant_enable_path import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_merchant_admin_creates_an_enrollment_code_and_sets_the_receipt_printer(committed, portal_server, page):
    sign_in(page, portal_server, "colmado-admin")
    page.click("nav >> text=Terminals")
    page.click("#new-code button:has-text('Create enrollment code')")
    page.wait_for_selector("#enrollment-code")
    code = page.inner_text("#enrollment-code code").strip()
    assert len(code) == 14 and code.count("-") == 2
    page.screenshot(path=SCREENSHOTS / "merchant-terminal-enrollment-code.png", full_page=True)

    page.click("nav >> text=POS settings")
    row = "#setting-devicesreceipt_printer"
    set_up, connection = f"{row} fieldset[data-branch='1']", f"{row} select[name='@1.connection@']"
    assert page.is_hidden(set_up)  # "Not set up": nothing else to fill in
    page.select_option(f"{row} select[name='@']", "1")
    assert page.is_visible(set_up) and page.is_visible(f"{row} fieldset[data-branch='usb']")  # the first type
    page.select_option(connection, "bluetooth")  # the fields follow the connection type chosen
    assert page.is_visible(f"{row} [name='@1.connection@bluetooth.address']")
    assert page.is_hidden(f"{row} [name='@1.connection@tcp.host']")
    page.select_option(connection, "tcp")
    page.select_option(f"{row} [name='@1.model']", "epson_tm_t88")
    page.click(f"{row} button:has-text('Save')")  # no host yet
    host_errors = f"{row} [id='e-devicesreceipt_printer-@1.connection@tcp.host']"
    page.wait_for_selector(host_errors)
    assert page.inner_text(host_errors) == "This field is required."
    assert page.get_attribute(f"{row} [name='@1.connection@tcp.host']", "aria-invalid") == "true"
    assert page.is_hidden(f"{row} fieldset[data-branch='usb']")  # the refused form keeps the choices made
    assert not SettingValue.objects.filter(merchant=committed.colmado).exists()

    page.fill(f"{row} [name='@1.connection@tcp.host']", "192.168.1.40")
    page.click(f"{row} button:has-text('Save')")
    page.wait_for_selector("text=devices.receipt_printer saved")
    assert "192.168.1.40" in page.inner_text(row) and "Merchant" in page.inner_text(row)
    page.screenshot(path=SCREENSHOTS / "merchant-pos-settings.png", full_page=True)
    assert SettingValue.objects.get(merchant=committed.colmado).value == {
        "model": "epson_tm_t88", "connection": {"type": "tcp", "host": "192.168.1.40", "port": 9100},
        "paper_width_mm": 80, "cash_drawer_kick": True}
    assert page.js_errors == []


def test_partner_admin_locks_the_receipt_footer_for_every_store(committed, portal_server, page):
    sign_in(page, portal_server, "pharmatech-admin")
    page.click("text=POS and device settings for all PharmaTech stores")
    row = "#setting-posreceiptfooter"
    page.fill(f"{row} input[name=value]", "PharmaTech cuida de usted")
    page.check(f"{row} input[name=locked]")
    page.click(f"{row} button:has-text('Save')")
    page.wait_for_selector("text=pos.receipt.footer saved")
    page.screenshot(path=SCREENSHOTS / "partner-pos-settings.png", full_page=True)
    assert SettingValue.objects.get(partner=committed.partner).locked
    assert page.js_errors == []
