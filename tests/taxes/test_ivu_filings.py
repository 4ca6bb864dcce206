"""The IVU return's month: prepared by the tax batch on the 1st (admins told it is ready), a reminder
before the 20th while it is not filed (once, in the merchant's own day), marked filed with SURI's
confirmation number (then frozen)."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse

from integrations.models import MerchantIntegration, SyncStatus
from integrations.services import configuring, enabling, transitions
from integrations.services.polling import SCHEDULED_BATCHES
from integrations.services.sync import merchant_integration_sync
from qiiub.errors import NotAllowed, ValidationFailed
from taxes.filings import due_date, filing_mark_filed, filing_prepare, previous_month, reminders_send
from taxes.models import IvuFiling
from tests.factories import definition, sell

SAN_JUAN = ZoneInfo("America/Puerto_Rico")
MESES = ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
         "noviembre", "diciembre"]
OCTOBER = date(2026, 10, 1)


def _suri(merchant, reminder_days: int = 5) -> MerchantIntegration:
    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition("tax.suri_ivu"), by=None)
    integration = configuring.merchant_integration_configure(
        integration=integration, configuration={"merchant_registration_number": "1234567",
                                                "reminder_days_before_due": reminder_days}, by=None)
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    return transitions.merchant_integration_activate(integration=integration, by=None)


def test_the_connection_test_fails_naming_a_jurisdiction_with_no_rate_in_force_today(personas):
    from taxes.models import IvuRate

    IvuRate.objects.filter(jurisdiction="municipal").update(effective_to=date(2020, 1, 1))  # ended long ago
    integration = enabling.merchant_integration_enable(merchant=personas.san_juan, definition=definition("tax.suri_ivu"),
                                                        by=None)
    integration = configuring.merchant_integration_configure(
        integration=integration, configuration={"merchant_registration_number": "1234567"}, by=None)

    error = configuring.merchant_integration_test_connection(integration=integration, by=None)

    assert error is not None and "No IVU rate is in force today for IVU municipal" in error.message
    assert "IVU state" not in error.message


def test_the_monthly_batch_prepares_last_months_return_and_tells_the_admins(
        personas, django_capture_on_commit_callbacks):
    merchant = personas.san_juan
    suri = _suri(merchant)
    last_month = previous_month(merchant)
    sell(merchant, at=datetime.combine(last_month + timedelta(days=3), datetime.min.time(), tzinfo=SAN_JUAN)
         + timedelta(hours=10))

    with django_capture_on_commit_callbacks(execute=True):
        log = merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=suri.pk), due=SCHEDULED_BATCHES)

    filing = IvuFiling.objects.get(merchant=merchant, period=last_month)
    assert log.status == SyncStatus.SUCCESS and filing.sales_count == 1 and filing.total_due == filing.state_due + filing.municipal_due
    # San Juan speaks Spanish: its admins read the email in Spanish
    assert len(mail.outbox) == 1 and "está lista" in mail.outbox[0].subject
    assert f"20 de {MESES[due_date(last_month).month - 1]}" in mail.outbox[0].subject
    assert "Ventas tributables" in mail.outbox[0].body
    assert mail.outbox[0].to == ["admin@farmaciasanjuan.local"]

    # a second run (late uploads) updates the figures and does not email again
    with django_capture_on_commit_callbacks(execute=True):
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=suri.pk), due=SCHEDULED_BATCHES)
    assert IvuFiling.objects.filter(merchant=merchant).count() == 1 and len(mail.outbox) == 1


def test_the_reminder_goes_once_from_the_configured_day_in_the_merchants_own_day(
        personas, django_capture_on_commit_callbacks):
    merchant = personas.san_juan
    _suri(merchant, reminder_days=3)
    filing_prepare(merchant=merchant, period=OCTOBER)  # due 2026-11-20: remind from the 17th
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_send(now=datetime(2026, 11, 16, 12, tzinfo=UTC)) == 0
        # 02:00 UTC on the 17th is still the 16th in San Juan (UTC-4)
        assert reminders_send(now=datetime(2026, 11, 17, 2, tzinfo=UTC)) == 0
        assert reminders_send(now=datetime(2026, 11, 17, 5, tzinfo=UTC)) == 1
        assert reminders_send(now=datetime(2026, 11, 18, 5, tzinfo=UTC)) == 0

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Recordatorio: la planilla del IVU de octubre de 2026 vence el 20 de noviembre"


def test_a_filed_return_gets_no_reminder_and_its_figures_never_change(personas, django_capture_on_commit_callbacks):
    merchant = personas.san_juan
    _suri(merchant)
    filing = filing_prepare(merchant=merchant, period=OCTOBER)
    filing_mark_filed(filing=filing, confirmation="SURI-2026-000123", by=personas.merchant_admin)
    sell(merchant, at=datetime(2026, 10, 30, 12, tzinfo=SAN_JUAN))  # a late upload after filing

    again = filing_prepare(merchant=merchant, period=OCTOBER)
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_send(now=datetime(2026, 11, 19, 12, tzinfo=UTC)) == 0

    assert again.sales_count == 0 and again.confirmation == "SURI-2026-000123"
    with pytest.raises(NotAllowed, match="already marked filed"):
        filing_mark_filed(filing=again, confirmation="SURI-2026-000999", by=personas.merchant_admin)


@pytest.mark.parametrize("confirmation", ["", "   ", "x", "<script>", "a" * 41])
def test_a_bad_confirmation_number_is_refused_and_nothing_is_marked(personas, confirmation):
    filing = filing_prepare(merchant=personas.san_juan, period=OCTOBER)
    with pytest.raises(ValidationFailed, match="confirmation number"):
        filing_mark_filed(filing=filing, confirmation=confirmation, by=personas.merchant_admin)
    filing.refresh_from_db()
    assert filing.filed_at is None and filing.confirmation == ""


def test_the_portal_lists_the_returns_and_marks_one_filed(client, personas):
    merchant = personas.san_juan
    suri = _suri(merchant)
    filing = filing_prepare(merchant=merchant, period=OCTOBER)
    client.force_login(personas.merchant_admin)
    page_url = reverse("portal:integration", args=[merchant.slug, suri.pk])
    assert "October 2026" in client.get(page_url).content.decode()

    page = client.post(reverse("portal:ivu-filed", args=[merchant.slug, suri.pk, filing.pk]),
                       {"confirmation": "SURI-77-ABC"}, follow=True).content.decode()

    filing.refresh_from_db()
    assert filing.filed_at and filing.filed_by == personas.merchant_admin and "marked filed" in page


@pytest.mark.security
def test_another_merchants_return_cannot_be_marked_by_url(client, personas):
    suri = _suri(personas.san_juan)
    other = filing_prepare(merchant=personas.pharmacies[1], period=OCTOBER)
    client.force_login(personas.merchant_admin)
    response = client.post(reverse("portal:ivu-filed", args=[personas.san_juan.slug, suri.pk, other.pk]),
                           {"confirmation": "SURI-1234"})
    other.refresh_from_db()
    assert response.status_code == 404 and other.filed_at is None
