"""Alerts: the review queue tells SystemAdmins once per incident; partners get one daily
digest of their stores' problems, grouped by integration and cause, never twice a day."""

from datetime import date

from django.core import mail

from integrations.models import MerchantIntegration
from integrations.services import health, problems
from integrations.services.alerts import partner_digests_send
from partners.models import Partner
from qiiub.http import VendorUnavailable
from qiiub.retry import AUTO_PAUSE_AFTER_FAILURES, REVIEW_AFTER_FAILURES
from tests.factories import active_acumatica

DAY = date(2026, 11, 25)


def test_the_tenth_failure_puts_it_in_review_and_tells_system_admins_once(
        personas, acumatica_fake, django_capture_on_commit_callbacks):
    integration = active_acumatica(personas.colmado, by=None)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(REVIEW_AFTER_FAILURES + 3):
            health.merchant_integration_record_failure(
                integration=MerchantIntegration.objects.get(pk=integration.pk), error=VendorUnavailable("down"))

    review = [message for message in mail.outbox if message.subject.startswith("Review needed")]
    assert len(review) == 1 and review[0].to == ["ops@qiiub.local"]
    assert "Acumatica for Colmado Rivera" in review[0].subject


def test_a_partner_gets_one_digest_grouping_an_outage_across_stores(personas, acumatica_fake):
    for merchant in personas.pharmacies[:3]:
        integration = active_acumatica(merchant, by=None, token=f"tok-digest-{merchant.pk}")
        for _ in range(AUTO_PAUSE_AFTER_FAILURES):
            health.merchant_integration_record_failure(
                integration=MerchantIntegration.objects.get(pk=integration.pk),
                error=VendorUnavailable("The vendor answered 503."))
    Partner.objects.update(last_digest_on=None)
    mail.outbox.clear()

    assert partner_digests_send(today=DAY) == 1
    assert partner_digests_send(today=DAY) == 0  # the same day again: nothing

    digest = mail.outbox[0]
    assert digest.to == ["it@pharmatech.local"] and digest.subject == "PharmaTech: 3 integrations need attention"
    assert "Acumatica (paused) at 3 stores: The vendor answered 503" in digest.body
    assert "Farmacia San Juan" in digest.body and "Farmacia Mayagüez" in digest.body


def test_a_partner_whose_stores_are_well_gets_no_email(personas):
    Partner.objects.update(last_digest_on=None)
    mail.outbox.clear()
    assert partner_digests_send(today=DAY) == 0 and mail.outbox == []


def test_an_acknowledged_review_is_not_flagged_again_until_a_success_ends_the_streak(
        personas, acumatica_fake, django_capture_on_commit_callbacks):
    from integrations.services.health import (
        merchant_integration_acknowledge_review,
        merchant_integration_record_success,
    )

    integration = active_acumatica(personas.colmado, by=None)

    def fail(times):
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(times):
                health.merchant_integration_record_failure(
                    integration=MerchantIntegration.objects.get(pk=integration.pk), error=VendorUnavailable("down"))

    fail(REVIEW_AFTER_FAILURES)
    merchant_integration_acknowledge_review(integration=MerchantIntegration.objects.get(pk=integration.pk),
                                            by=personas.sysadmin)
    fail(5)
    assert not MerchantIntegration.objects.get(pk=integration.pk).needs_review
    merchant_integration_record_success(integration=MerchantIntegration.objects.get(pk=integration.pk))
    fail(REVIEW_AFTER_FAILURES)  # a new streak: a new incident

    assert MerchantIntegration.objects.get(pk=integration.pk).needs_review
    assert len([message for message in mail.outbox if message.subject.startswith("Review needed")]) == 2


def test_the_system_health_page_shows_partners_the_failure_trend_and_the_review_queue(client, personas, acumatica_fake):
    from django.urls import reverse
    from django.utils import timezone

    from integrations.models import IntegrationSyncLog

    integration = active_acumatica(personas.colmado, by=None)
    active_acumatica(personas.san_juan, by=None, token="tok-pharmatech")
    now = timezone.now()
    IntegrationSyncLog.objects.bulk_create([
        IntegrationSyncLog(merchant_integration=integration, direction="pull", status=status, started_at=now,
                           finished_at=now) for status in ("failed", "failed", "success", "success")])
    MerchantIntegration.objects.filter(pk=integration.pk).update(needs_review=True, consecutive_error_count=12)

    client.force_login(personas.partner_admin)
    assert client.get(reverse("system-health")).status_code == 302  # not staff: the admin's sign-in
    client.force_login(personas.sysadmin)
    page = client.get(reverse("system-health")).content.decode()

    assert "PharmaTech" in page and "Direct merchants" in page
    assert "2 of 4 failed" in page  # today's bar of Acumatica
    queue = page[page.index("Review queue"):]
    assert "Colmado Rivera" in queue and "12" in queue
    assert reverse("system-health") in client.get(reverse("admin:index")).content.decode()  # reachable from the admin


def test_a_merchants_admins_read_the_auto_pause_email_in_the_merchants_language(personas, acumatica_fake):
    from integrations.services.alerts import send_auto_pause_alert
    from merchants.models import Merchant

    integration = active_acumatica(personas.colmado, by=None, token="tok-alert-language")
    MerchantIntegration.objects.filter(pk=integration.pk).update(consecutive_error_count=3)
    problems.failure_seen(integration=integration, error=VendorUnavailable("vendor_status", vendor="Acumatica",
                                                                             status=503))
    for language, subject, fix, cause in (
            ("es", "Acumatica se pausó tras fallos repetidos", "pruebe la conexión y luego reanúdela",
             "Acumatica respondió 503."),
            ("en", "Acumatica was paused after repeated failures", "test the connection, then resume",
             "Acumatica answered 503.")):
        Merchant.objects.filter(pk=personas.colmado.pk).update(language=language)
        mail.outbox.clear()

        send_auto_pause_alert(integration_id=integration.pk)

        assert mail.outbox[0].subject == subject and fix in mail.outbox[0].body
        assert cause in mail.outbox[0].body  # the stored cause, in the reader's language
