"""Portal pages for terminals and POS settings, per role."""

import pytest
from django.test import Client

from devices.models import SettingValue, Terminal
from devices.terminals import terminal_enroll
from qiiub.errors import ValidationFailed


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_merchant_admin_creates_an_enrollment_code_shown_once_and_revokes_the_terminal(personas):
    pharmacy = personas.pharmacies[0]
    location = pharmacy.locations.order_by("code").first()
    client = _client(personas.merchant_admin)

    page = client.post(f"/portal/m/{pharmacy.slug}/terminals/", {"location": location.pk})

    assert page.status_code == 201
    code = page.context["new_code"]["code"]
    assert code in page.content.decode()
    terminal, _ = terminal_enroll(code=code, name="Register 3")
    assert terminal.location == location
    assert code not in client.get(f"/portal/m/{pharmacy.slug}/terminals/").content.decode()

    client.post(f"/portal/m/{pharmacy.slug}/terminals/{terminal.pk}/revoke/")
    assert Terminal.objects.get(pk=terminal.pk).revoked_at is not None
    with pytest.raises(ValidationFailed):
        terminal_enroll(code=code, name="Register 4")  # the code was used once


@pytest.mark.security
def test_terminals_and_settings_of_another_merchant_or_partner_answer_404(personas):
    other = personas.retail[0]
    client = _client(personas.merchant_admin)
    other_location = other.locations.first()
    own_location = personas.pharmacies[0].locations.first()
    assert client.get(f"/portal/m/{other.slug}/terminals/").status_code == 404
    assert client.post(f"/portal/m/{other.slug}/terminals/", {"location": other_location.pk}).status_code == 404
    assert client.get(f"/portal/m/{other.slug}/settings/").status_code == 404
    assert client.get(f"/portal/m/{personas.pharmacies[0].slug}/settings/{other_location.pk}/").status_code == 404
    assert client.get(f"/portal/p/{personas.partner.slug}/settings/").status_code == 404  # a merchant admin
    assert client.post(f"/portal/m/{personas.pharmacies[0].slug}/terminals/", {"location": other_location.pk}
                       ).status_code == 404
    terminal, _ = _enrolled_at(other_location)
    client.post(f"/portal/m/{personas.pharmacies[0].slug}/terminals/{terminal.pk}/revoke/")
    assert Terminal.objects.get(pk=terminal.pk).revoked_at is None
    assert own_location.terminals.count() == 0


def _enrolled_at(location):
    from devices.terminals import enrollment_code_create

    _, code = enrollment_code_create(location=location)
    return terminal_enroll(code=code, name="Till")


def test_the_settings_page_explains_each_value_and_its_source_and_saves_an_override(personas):
    pharmacy = personas.pharmacies[0]
    location = pharmacy.locations.order_by("code").first()
    client = _client(personas.merchant_admin)

    saved = client.post(f"/portal/m/{pharmacy.slug}/settings/{location.pk}/", {"key": "pos.language", "value": "en"})
    page = client.get(saved.url)

    assert page.status_code == 200
    rows = {row["definition"].key: row for row in page.context["rows"]}
    assert (rows["pos.language"]["effective"].value, rows["pos.language"]["effective"].source) == ("en", "location")
    assert rows["payments.card.offline_allowed"]["locked_above"] == "System"
    assert "Locked at the System level" in page.content.decode()


def test_a_partner_lock_shows_on_the_merchant_page_and_refuses_an_override_there(personas):
    pharmacy = personas.pharmacies[0]
    partner_client = _client(personas.partner_admin)
    partner_client.post(f"/portal/p/{personas.partner.slug}/settings/",
                        {"key": "pos.receipt.footer", "value": "PharmaTech", "locked": "on"})

    merchant_client = _client(personas.merchant_admin)
    page = merchant_client.get(f"/portal/m/{pharmacy.slug}/settings/")
    assert {row["definition"].key: row for row in page.context["rows"]}["pos.receipt.footer"]["locked_above"] == "Partner"
    refused = merchant_client.post(f"/portal/m/{pharmacy.slug}/settings/", {"key": "pos.receipt.footer", "value": "x"})
    assert refused.status_code == 409 and "locked at the Partner level" in refused.content.decode()
    assert not SettingValue.objects.filter(merchant=pharmacy).exists()


@pytest.mark.security
def test_bad_setting_values_are_refused_inline_and_a_card_number_is_never_echoed(personas):
    pharmacy = personas.pharmacies[0]
    client = _client(personas.merchant_admin)
    url = f"/portal/m/{pharmacy.slug}/settings/"

    no_host = client.post(url, {"key": "devices.label_printer", "@": "1", "@1.model": "zebra_zpl",
                                "@1.connection@": "tcp", "@1.connection@tcp.port": "9100"})
    assert no_host.status_code == 422 and "This field is required." in no_host.content.decode()

    card = client.post(url, {"key": "pos.receipt.footer", "value": "Pay with 4111 1111 1111 1111"})
    assert card.status_code == 422 and "4111" not in card.content.decode()
    # a card where the schema would refuse the value anyway (not a model, not a number): still not shown back
    for posted in ({"key": "devices.receipt_printer", "@": "1", "@1.model": "4111 1111 1111 1111"},
                   {"key": "pos.sync.upload_batch_size", "value": "4111 1111 1111 1111 x"}):
        refused = client.post(url, posted)
        assert refused.status_code == 422 and "1111 1111" not in refused.content.decode(), posted
    assert not SettingValue.objects.exists()


@pytest.mark.security
def test_the_settings_and_terminal_forms_require_csrf(personas):
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.merchant_admin)
    pharmacy = personas.pharmacies[0]
    assert client.post(f"/portal/m/{pharmacy.slug}/settings/", {"key": "pos.language", "value": "en"}).status_code == 403
    assert client.post(f"/portal/m/{pharmacy.slug}/terminals/",
                       {"location": pharmacy.locations.first().pk}).status_code == 403
