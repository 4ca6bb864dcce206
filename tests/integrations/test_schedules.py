"""Scheduled batches: the nightly accounting batch and the monthly tax batch run at a wall-clock
time in the merchant's own time zone, claimed by the orchestrator like polls."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from integrations.models import IntegrationSyncLog, MerchantIntegration, Status
from integrations.services import polling
from integrations.services.schedules import next_batch_at
from integrations.tasks import scheduled_batch
from tests.factories import definition, quickbooks_connected


def _integration(merchant, code, *, time_zone="America/Puerto_Rico"):
    merchant.time_zone = time_zone
    return MerchantIntegration(merchant=merchant, definition=definition(code), status=Status.ACTIVE)


def test_the_nightly_accounting_batch_runs_at_two_in_the_morning_in_puerto_rico(personas):
    qbo = _integration(personas.colmado, "accounting.quickbooks_online")
    afternoon_in_san_juan = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)  # 15:00 AST (UTC-4, no DST)
    assert next_batch_at(qbo, after=afternoon_in_san_juan) == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    just_after_two = datetime(2026, 11, 26, 6, 0, 5, tzinfo=UTC)
    assert next_batch_at(qbo, after=just_after_two) == datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def test_a_us_merchant_follows_daylight_saving_and_a_skipped_hour_runs_at_its_first_moment_after(personas):
    xero = _integration(personas.colmado, "accounting.xero", time_zone="America/New_York")
    assert next_batch_at(xero, after=datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    assert next_batch_at(xero, after=datetime(2027, 7, 1, 12, 0, tzinfo=UTC)) == datetime(2027, 7, 2, 6, 0, tzinfo=UTC)
    # 2027-03-14: clocks jump from 02:00 to 03:00 in New York
    assert next_batch_at(xero, after=datetime(2027, 3, 13, 17, 0, tzinfo=UTC)) == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)


def test_the_tax_batch_runs_monthly_and_polling_only_integrations_have_no_batch(personas):
    suri = _integration(personas.colmado, "tax.suri_ivu")
    assert next_batch_at(suri, after=datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    assert next_batch_at(suri, after=datetime(2026, 12, 31, 12, 0, tzinfo=UTC)) == datetime(2027, 1, 1, 7, 0, tzinfo=UTC)
    assert next_batch_at(_integration(personas.colmado, "erp.acumatica"), after=timezone.now()) is None


def test_a_due_batch_is_claimed_once_run_and_scheduled_for_the_next_night(personas, quickbooks_fake):
    # given an active QuickBooks integration whose batch time has come
    integration = quickbooks_connected(personas.colmado)
    assert integration.next_batch_at > timezone.now()  # activation scheduled the next night
    MerchantIntegration.objects.filter(pk=integration.pk).update(next_batch_at=timezone.now() - timedelta(minutes=1))

    # when the orchestrator ticks twice and the batch runs
    sent: list[int] = []
    assert polling.poll_tick(enqueue=sent.extend, due=polling.SCHEDULED_BATCHES).claimed == 1
    assert polling.poll_tick(enqueue=sent.extend, due=polling.SCHEDULED_BATCHES).claimed == 0
    assert polling.poll_tick(enqueue=lambda ids: None).claimed == 0  # QuickBooks is not polled
    scheduled_batch(sent)

    # then it ran once, and its next batch is tomorrow at 02:00 in San Juan
    integration.refresh_from_db()
    assert IntegrationSyncLog.objects.filter(merchant_integration=integration).count() == 1
    local = integration.next_batch_at.astimezone(ZoneInfo("America/Puerto_Rico"))
    assert (local.hour, local.minute) == (2, 0) and integration.next_batch_at > timezone.now()
