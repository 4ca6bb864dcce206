"""SystemAdmin edits POS settings and revokes terminals in Django admin, through the services."""

import json

import pytest
from django.test import Client

from devices.models import SettingDefinition, SettingValue, Terminal
from tests.devices.conftest import enrolled


def _admin(personas) -> Client:
    client = Client()
    client.force_login(personas.sysadmin)
    return client


def _form(personas, key: str, value, **changes) -> dict:
    data = {"definition": SettingDefinition.objects.get(key=key).pk, "level": "merchant",
            "merchant": personas.colmado.pk, "value": json.dumps(value)}
    data.update(changes)
    return data


def test_a_sysadmin_override_goes_through_the_cascade_and_bumps_the_config_version(personas):
    location = personas.colmado.locations.first()
    before = location.config_version
    answer = _admin(personas).post("/admin/devices/settingvalue/add/", _form(personas, "pos.language", "en"))
    assert answer.status_code == 302
    assert SettingValue.objects.get(merchant=personas.colmado).value == "en"
    location.refresh_from_db()
    assert location.config_version == before + 1


@pytest.mark.security
def test_the_admin_refuses_system_locked_keys_bad_values_and_card_data_without_echoing_it(personas):
    client = _admin(personas)
    locked = client.post("/admin/devices/settingvalue/add/", _form(personas, "payments.card.offline_allowed", True))
    assert locked.status_code == 200 and "locked by QIIUB" in locked.content.decode()
    bad = client.post("/admin/devices/settingvalue/add/", _form(personas, "pos.sync.config_poll_seconds", 5))
    assert bad.status_code == 200 and "minimum" in bad.content.decode()
    card = client.post("/admin/devices/settingvalue/add/",
                       _form(personas, "pos.receipt.footer", "Paid 4111 1111 1111 1111"))
    assert card.status_code == 200 and "card data" in card.content.decode()
    assert "4111" not in card.content.decode()
    assert not SettingValue.objects.exists()


def test_a_sysadmin_revokes_a_terminal_from_the_admin(personas):
    terminal = enrolled(personas.colmado.locations.first())
    client = _admin(personas)
    page = client.get(f"/admin/devices/terminal/{terminal.terminal.pk}/change/")
    assert page.status_code == 200 and terminal.terminal.token_hash not in page.content.decode()
    client.post("/admin/devices/terminal/", {"action": "revoke_selected", "_selected_action": [terminal.terminal.pk]})
    assert Terminal.objects.get(pk=terminal.terminal.pk).revoked_at is not None
    assert terminal.client.get("/api/pos/v1/config").status_code == 401
