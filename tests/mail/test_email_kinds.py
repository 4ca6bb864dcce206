"""Every kind of email the hub sends leaves with a plain-text part and an HTML part, both in the
recipient's language, through anymail (its test backend: what a provider would be handed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth import get_user_model

from integrations.models import MerchantIntegration
from integrations.services import problems
from integrations.services.alerts import partner_digests_send, send_auto_pause_alert, send_review_alert
from merchants.models import Merchant, Role
from merchants.services import membership_grant, user_language_set
from partners.models import Partner
from partners.services.outreach import store_admins_remind
from qiiub.http import VendorUnavailable
from taxes.filings import filing_prepare, reminders_send
from tests.factories import active_acumatica
from tests.mail.conftest import parts
from webhooks.alerts import send_webhook_disabled_alert
from webhooks.models import DisabledReason, WebhookEndpoint
from webhooks.services import webhook_endpoint_create

OCTOBER = date(2026, 10, 1)


def assert_both_parts(message, *, kind: str, language: str, subject: str, says: str) -> None:
    """The provider got the subject, a text part and an HTML part saying `says`, in `language`."""
    sent = message.anymail_test_params
    text, html = parts(message)
    assert sent["subject"] == subject and sent["text_body"] == text and sent["html_body"] == html
    assert says in text and says.replace("'", "&#x27;").replace('"', "&quot;") in html
    assert f'<html lang="{language}">' in html and "<title>" in html
    assert sent["tags"] == [kind] and sent["track_opens"] is False and sent["track_clicks"] is False


def _speaking(merchant, language: str) -> None:
    Merchant.objects.filter(pk=merchant.pk).update(language=language)


@pytest.mark.parametrize(("language", "subject", "says"), [
    ("en", "Acumatica was paused after repeated failures", "test the connection, then resume"),
    ("es", "Acumatica se pausó tras fallos repetidos", "pruebe la conexión y luego reanúdela"),
])
def test_the_auto_pause_alert_reaches_the_merchants_admins_in_the_merchants_language(
        personas, acumatica_fake, anymail_outbox, language, subject, says):
    integration = active_acumatica(personas.colmado, by=None, token="tok-mail-pause")
    problems.failure_seen(integration=integration, error=VendorUnavailable("vendor_status", vendor="Acumatica",
                                                                             status=503))
    _speaking(personas.colmado, language)

    send_auto_pause_alert(integration_id=integration.pk)

    [message] = anymail_outbox
    assert message.to == ["admin@colmadorivera.local"]
    assert_both_parts(message, kind="integration_paused", language=language, subject=subject, says=says)
    assert ("Acumatica answered 503." if language == "en" else "Acumatica respondió 503.") in message.body


def test_the_review_alert_reaches_each_system_admin_in_their_own_language(personas, acumatica_fake, anymail_outbox):
    # given a second SystemAdmin who chose Spanish (the first chose English)
    spanish = get_user_model().objects.create_user("ops-es", "ops-es@qiiub.local", "x", is_staff=True)
    user_language_set(user=spanish, language="es")
    integration = active_acumatica(personas.colmado, by=None, token="tok-mail-review")
    MerchantIntegration.objects.filter(pk=integration.pk).update(consecutive_error_count=10)

    send_review_alert(integration_id=integration.pk)

    by_language = {message.to[0]: message for message in anymail_outbox}
    assert len(anymail_outbox) == 2 and by_language.keys() == {"ops@qiiub.local", "ops-es@qiiub.local"}
    assert_both_parts(by_language["ops@qiiub.local"], kind="integration_review", language="en",
                      subject="Review needed: Acumatica for Colmado Rivera",
                      says="Acumatica for Colmado Rivera has failed 10 times in a row.")
    assert_both_parts(by_language["ops-es@qiiub.local"], kind="integration_review", language="es",
                      subject="Revisión necesaria: Acumatica de Colmado Rivera",
                      says="Acumatica de Colmado Rivera ha fallado 10 veces seguidas.")


def test_the_partner_digest_reaches_each_partner_admin_in_their_own_language(personas, acumatica_fake, anymail_outbox):
    spanish = get_user_model().objects.create_user("pharmatech-es", "it-es@pharmatech.local", "x")
    membership_grant(user=spanish, role=Role.PARTNER_ADMIN, partner=personas.partner)
    user_language_set(user=spanish, language="es")
    for merchant in personas.pharmacies[:2]:
        integration = active_acumatica(merchant, by=None, token=f"tok-mail-digest-{merchant.pk}")
        problems.failure_seen(integration=integration, error=VendorUnavailable("vendor_status", vendor="Acumatica",
                                                                                 status=503))
        MerchantIntegration.objects.filter(pk=integration.pk).update(status="paused")
    Partner.objects.update(last_digest_on=None)

    assert partner_digests_send(today=date(2026, 11, 25)) == 1

    by_address = {message.to[0]: message for message in anymail_outbox}
    assert by_address.keys() == {"it@pharmatech.local", "it-es@pharmatech.local"}
    assert_both_parts(by_address["it@pharmatech.local"], kind="partner_digest", language="en",
                      subject="PharmaTech: 2 integrations need attention",
                      says="Acumatica (paused) at 2 stores: Acumatica answered 503.")
    assert_both_parts(by_address["it-es@pharmatech.local"], kind="partner_digest", language="es",
                      subject="PharmaTech: 2 integraciones necesitan atención",
                      says="Acumatica (en pausa) en 2 tiendas: Acumatica respondió 503.")


@pytest.mark.parametrize(("language", "ready", "reminder", "says"), [
    ("en", "IVU return for October 2026 is ready: file it in SURI by November 20",
     "Reminder: the IVU return for October 2026 is due on November 20", "File these figures in SURI (suri.hacienda.pr.gov)"),
    ("es", "La planilla del IVU de octubre de 2026 está lista: radíquela en SURI a más tardar el 20 de noviembre",
     "Recordatorio: la planilla del IVU de octubre de 2026 vence el 20 de noviembre",
     "Radique estas cifras en SURI (suri.hacienda.pr.gov)"),
])
def test_the_ivu_return_emails_reach_the_merchants_admins_in_the_merchants_language(
        personas, anymail_outbox, django_capture_on_commit_callbacks, language, ready, reminder, says):
    _speaking(personas.san_juan, language)

    with django_capture_on_commit_callbacks(execute=True):
        filing_prepare(merchant=Merchant.objects.get(pk=personas.san_juan.pk), period=OCTOBER)
        assert reminders_send(now=datetime(2026, 11, 17, 12, tzinfo=UTC)) == 1

    first, second = anymail_outbox
    assert first.to == second.to == ["admin@farmaciasanjuan.local"]
    assert_both_parts(first, kind="ivu_return_ready", language=language, subject=ready, says=says)
    assert_both_parts(second, kind="ivu_return_reminder", language=language, subject=reminder, says=says)


@pytest.mark.parametrize(("topic", "english", "spanish"), [
    ("accounting", "Farmacia Ponce: connect your accounting in QIIUB",
     "Farmacia San Juan: conecte su contabilidad en QIIUB"),
    ("tax", "Farmacia Ponce: set up IVU filing in QIIUB", "Farmacia San Juan: configure la planilla del IVU en QIIUB"),
])
def test_a_partners_reminder_reaches_each_store_in_the_stores_language(personas, anymail_outbox, topic, english,
                                                                       spanish):
    # given Ponce speaks English and has an admin; San Juan speaks Spanish
    ponce = personas.pharmacies[1]
    _speaking(ponce, "en")
    admin = get_user_model().objects.create_user("ponce-admin", "admin@farmaciaponce.local", "x")
    membership_grant(user=admin, role=Role.MERCHANT_ADMIN, merchant=ponce)

    store_admins_remind(partner=personas.partner, topic=topic, by=personas.partner_admin,
                        base_url="https://hub.example.com")

    subjects = {message.anymail_test_params["subject"]: message for message in anymail_outbox}
    assert_both_parts(subjects[english], kind="store_reminder", language="en", subject=english,
                      says="https://hub.example.com/portal/m/farmacia-ponce/")
    assert_both_parts(subjects[spanish], kind="store_reminder", language="es", subject=spanish,
                      says="https://hub.example.com/portal/m/farmacia-san-juan/")
    assert subjects[english].to == ["admin@farmaciaponce.local"]
    assert '<a href="https://hub.example.com/portal/m/farmacia-ponce/catalog/">' in parts(subjects[english])[1]


@pytest.mark.parametrize(("language", "subject", "says"), [
    ("en", "A webhook endpoint was disabled", "The endpoint answered 410 Gone"),
    ("es", "Se deshabilitó un endpoint de webhook", "El endpoint respondió 410 Gone"),
])
def test_the_webhook_disabled_alert_reaches_the_merchants_admins_in_the_merchants_language(
        personas, anymail_outbox, language, subject, says):
    endpoint, _secret = webhook_endpoint_create(merchant=personas.colmado, url="https://127.0.0.1:8443/qiiub",
                                                event_types=["sale.completed"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason=DisabledReason.GONE)
    _speaking(personas.colmado, language)

    send_webhook_disabled_alert(endpoint_id=endpoint.pk)

    [message] = anymail_outbox
    assert_both_parts(message, kind="webhook_disabled", language=language, subject=subject, says=says)
    assert "https://127.0.0.1:8443/qiiub" in message.body
