"""The settings cascade: System → Partner → Merchant → Location, locks, and config versions."""

import json
import shutil

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from devices import cascade
from devices.models import SettingDefinition, SettingValue
from devices.setting_seeds import settings_load
from merchants.models import Location
from qiiub.errors import CardDataRejected, NotAllowed, NotFound, ValidationFailed
from qiiub.seed_files import SeedError
from tests.conftest import SEEDS


def _location(merchant):
    return merchant.locations.order_by("code").first()


def test_each_level_overrides_the_one_above_and_says_where_the_value_came_from(personas):
    pharmacy = personas.pharmacies[0]
    santurce, rio_piedras = pharmacy.locations.order_by("code")
    cascade.setting_value_set(key="pos.receipt.footer", owner=personas.partner, value="PharmaTech cuida de usted")
    cascade.setting_value_set(key="pos.sync.config_poll_seconds", owner=pharmacy, value=120)
    cascade.setting_value_set(key="pos.sync.config_poll_seconds", owner=santurce, value=45)

    at_santurce, at_rio_piedras = cascade.resolve(santurce), cascade.resolve(rio_piedras)

    assert (at_santurce["pos.receipt.footer"].value, at_santurce["pos.receipt.footer"].source) == (
        "PharmaTech cuida de usted", "partner")
    assert (at_santurce["pos.sync.config_poll_seconds"].value, at_santurce["pos.sync.config_poll_seconds"].source) == (
        45, "location")
    assert (at_rio_piedras["pos.sync.config_poll_seconds"].value,
            at_rio_piedras["pos.sync.config_poll_seconds"].source) == (120, "merchant")
    assert at_santurce["pos.language"].source == "system"
    # a merchant of no partner gets the System defaults
    assert cascade.resolve(_location(personas.colmado))["pos.receipt.footer"].source == "system"


def test_a_lock_stops_every_level_below_including_overrides_made_before_it(personas):
    pharmacy = personas.pharmacies[0]
    location = _location(pharmacy)
    cascade.setting_value_set(key="pos.language", owner=location, value="en")

    cascade.setting_value_set(key="pos.language", owner=personas.partner, value="es", locked=True)

    resolved = cascade.resolve(location)["pos.language"]
    assert (resolved.value, resolved.source, resolved.locked_by) == ("es", "partner", "partner")
    for owner in (pharmacy, location):
        with pytest.raises(NotAllowed, match="locked at the Partner level"):
            cascade.setting_value_set(key="pos.language", owner=owner, value="en")
    assert SettingValue.objects.filter(merchant=pharmacy).count() == 0


@pytest.mark.parametrize("level", ["partner", "merchant", "location"])
def test_the_offline_card_policy_is_system_locked_and_no_level_may_override_it(personas, level):
    owner = {"partner": personas.partner, "merchant": personas.pharmacies[0],
             "location": _location(personas.pharmacies[0])}[level]
    with pytest.raises(NotAllowed, match="locked by QIIUB"):
        cascade.setting_value_set(key="payments.card.offline_allowed", owner=owner, value=True)
    assert not SettingValue.objects.exists()
    resolved = cascade.resolve(_location(personas.pharmacies[0]))["payments.card.offline_allowed"]
    assert (resolved.value, resolved.locked_by) == (False, "system")


def test_a_device_setting_that_breaks_its_schema_is_refused_field_by_field_and_nothing_is_stored(personas):
    terminal_over_tcp_without_host = {"vendor": "pax", "connection": {"type": "tcp", "port": 99999}}
    with pytest.raises(ValidationFailed) as refused:
        cascade.setting_value_set(key="devices.payment_terminal", owner=personas.colmado,
                                  value=terminal_over_tcp_without_host)
    assert "connection" in json.dumps(refused.value.field_errors)
    with pytest.raises(ValidationFailed):
        cascade.setting_value_set(key="devices.scale", owner=personas.colmado,
                                  value={"model": "cas", "connection": {"type": "serial", "port": "COM1", "baud": 9600,
                                                                        "parity": "mark", "data_bits": 8}})
    with pytest.raises(CardDataRejected):
        cascade.setting_value_set(key="pos.receipt.footer", owner=personas.colmado, value="Card 4111-1111-1111-1111")
    with pytest.raises(NotFound):
        cascade.setting_value_set(key="pos.no_such_setting", owner=personas.colmado, value=1)
    assert not SettingValue.objects.exists()


def test_every_device_type_of_the_seed_accepts_a_real_configuration(personas):
    serial = {"type": "serial", "port": "COM3", "baud": 9600, "parity": "none", "data_bits": 8}
    devices = {
        "devices.payment_terminal": {"vendor": "ingenico", "model": "Lane/3000",
                                     "connection": {"type": "tcp", "host": "10.0.0.21", "port": 12000}},
        "devices.receipt_printer": {"model": "star_tsp100", "connection": {"type": "usb"}, "paper_width_mm": 80},
        "devices.label_printer": {"model": "zebra_zpl", "connection": {"type": "tcp", "host": "zebra-1", "port": 9100}},
        "devices.scale": {"model": "mettler_toledo", "connection": serial},
        "devices.barcode_scanner": {"prefix": "", "suffix": "\t"},
        "devices.customer_display": {"kind": "second_screen", "url": "https://display.qiiub.com/s/CR01"},
    }
    location = _location(personas.colmado)
    for key, value in devices.items():
        cascade.setting_value_set(key=key, owner=location, value=value)
    resolved = cascade.resolve(location)
    assert {key: resolved[key].value for key in devices} == devices


def test_a_partner_change_reaching_every_store_bumps_their_versions_in_one_statement(personas):
    partner_locations = Location.objects.filter(merchant__partner=personas.partner)
    before = dict(partner_locations.values_list("pk", "config_version"))
    other_before = _location(personas.colmado).config_version

    with CaptureQueriesContext(connection) as queries:
        cascade.setting_value_set(key="pos.receipt.footer", owner=personas.partner, value="Gracias")

    bumps = [query["sql"] for query in queries if query["sql"].startswith('UPDATE "merchants_location"')]
    assert len(bumps) == 1
    after = dict(partner_locations.values_list("pk", "config_version"))
    assert all(after[pk] == version + 1 for pk, version in before.items())
    assert _location(personas.colmado).config_version == other_before


def test_clearing_an_override_brings_back_the_level_above(personas):
    location = _location(personas.colmado)
    cascade.setting_value_set(key="pos.language", owner=location, value="en")
    assert cascade.setting_value_clear(key="pos.language", owner=location) is True
    assert cascade.resolve(location)["pos.language"].source == "system"
    assert cascade.setting_value_clear(key="pos.language", owner=location) is False


def test_a_bad_settings_seed_file_changes_nothing(personas, tmp_path):
    seeds = tmp_path / "settings.json"
    shutil.copy(SEEDS / "settings.json", seeds)
    data = json.loads(seeds.read_text())
    data["settings"][0]["description"] = "changed"
    data["settings"][-1]["default"] = {"kind": "vfd"}  # breaks its own schema
    seeds.write_text(json.dumps(data))

    with pytest.raises(SeedError, match="default"):
        settings_load(path=seeds)
    assert SettingDefinition.objects.get(key=data["settings"][0]["key"]).description != "changed"
