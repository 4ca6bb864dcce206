"""Retention of the single tables: processed inbound bodies, sync logs (each integration keeps its
latest run), terminals' device statuses in every merchant's schema, and the books, which are kept
for their legal period; and the runner around them (ADR 0039)."""

import uuid
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django_tenants.utils import schema_context

from integrations.models import IntegrationSyncLog
from merchants.store.models import DeviceStatus, Sale, SaleLine, SaleTaxLine, Tender
from qiiub import retention
from qiiub.retention import retention_run
from tests.factories import sell
from tests.retention.conftest import NOW, ago, event_with, surviving, sync_log
from webhooks.models import InboundStatus, InboundWebhook


@pytest.fixture(autouse=True)
def _windows(settings):
    settings.RETENTION_INBOUND_WEBHOOK_DAYS = settings.RETENTION_DEVICE_STATUS_DAYS = 30
    settings.RETENTION_SYNC_LOG_DAYS, settings.RETENTION_BOOKS_YEARS = 90, 7


def _inbound(integration, *, received_days_old: float, processed_days_old: float | None):
    row = InboundWebhook.objects.create(merchant_integration=integration, vendor_webhook_id=uuid.uuid4().hex,
                                        topic="orders/create", body='{"id": 1}')
    processed = processed_days_old is not None
    InboundWebhook.objects.filter(pk=row.pk).update(
        received_at=ago(received_days_old), processed_at=ago(processed_days_old) if processed else None,
        status=InboundStatus.PROCESSED if processed else InboundStatus.RECEIVED)
    return row


def test_a_processed_inbound_body_goes_after_its_window_and_one_still_to_process_stays(ledger):
    old = _inbound(ledger, received_days_old=31, processed_days_old=31)
    recent = _inbound(ledger, received_days_old=29, processed_days_old=29)
    waiting = _inbound(ledger, received_days_old=200, processed_days_old=None)  # its integration is paused
    processed_late = _inbound(ledger, received_days_old=40, processed_days_old=10)

    retention_run(now=NOW)

    assert surviving(InboundWebhook, [old, recent, waiting, processed_late]) == {recent.pk, waiting.pk,
                                                                                processed_late.pk}


def test_old_sync_logs_go_but_each_integration_keeps_its_latest_run(ledger):
    # given runs 200, 120 and 100 days ago, and one 10 days ago
    old = [sync_log(ledger, days_old=days) for days in (200, 120, 100)]
    recent = sync_log(ledger, days_old=10)

    retention_run(now=NOW)
    assert surviving(IntegrationSyncLog, [*old, recent]) == {recent.pk}

    # when the integration stops running, its last run stays however old it gets
    retention_run(now=ago(-365))
    assert surviving(IntegrationSyncLog, [recent]) == {recent.pk}


def _device_status(merchant, *, days_old: float) -> int:
    with schema_context(merchant.schema_name):
        return DeviceStatus.objects.create(client_uuid=uuid.uuid4(), location_code=merchant.locations.first().code,
                                           device="receipt_printer", state="ok", reported_at=ago(days_old)).pk


def _statuses_left(merchant, ids) -> set[int]:
    with schema_context(merchant.schema_name):
        return set(DeviceStatus.objects.filter(pk__in=ids).values_list("pk", flat=True))


def test_device_statuses_are_bounded_in_every_merchants_schema(personas):
    # given two merchants whose terminals reported 31 days ago and yesterday, and one report that
    # arrived late: uploaded after yesterday's, but made 45 days ago (the terminal was offline)
    rows = {merchant: [_device_status(merchant, days_old=days) for days in (31, 1, 45)]
            for merchant in (personas.colmado, personas.san_juan)}

    retention_run(now=NOW)

    # then only yesterday's is left, in both schemas
    for merchant, (old, recent, late) in rows.items():
        assert _statuses_left(merchant, [old, recent, late]) == {recent}, merchant.name


def test_the_books_are_kept_for_their_legal_period_and_go_with_their_lines_after_it(personas):
    colmado = personas.colmado
    kept_id, _ = sell(colmado, at=ago(6 * 366))
    gone_id, _ = sell(colmado, at=ago(7 * 366 + 2))
    with schema_context(colmado.schema_name):
        gone = Sale.objects.get(client_uuid=gone_id)
        SaleTaxLine.objects.create(sale=gone, jurisdiction="state", rate=Decimal("0.105"),
                                   taxable_amount=Decimal("10.00"), amount=Decimal("1.05"))

    retention_run(now=NOW)

    with schema_context(colmado.schema_name):
        assert set(Sale.objects.filter(client_uuid__in=[kept_id, gone_id]).values_list("client_uuid", flat=True)) \
            == {uuid.UUID(kept_id)}
        assert not SaleLine.objects.filter(sale_id=gone.pk).exists()
        assert not Tender.objects.filter(sale_id=gone.pk).exists()
        assert not SaleTaxLine.objects.filter(sale_id=gone.pk).exists()


class _Broken:
    name, tenant = "broken", False

    def purge_batch(self, *, now, after, size):
        raise DatabaseError("canceling statement due to lock timeout")


def test_a_rule_whose_batch_fails_is_reported_and_the_others_still_run(personas, monkeypatch):
    monkeypatch.setitem(retention._rules, "broken", _Broken())
    old = event_with(personas.colmado, days_old=31)

    report = retention_run(now=NOW)

    assert report.failed == ["broken@public"]
    assert surviving(type(old), [old]) == set()


def test_the_command_runs_it_by_hand_and_says_what_it_deleted(personas, ledger, capsys):
    sync_log(ledger, days_old=100)
    sync_log(ledger, days_old=1)

    call_command("retention_run")

    out = capsys.readouterr().out
    assert "integrations_integrationsynclog: 1 deleted" in out and out.rstrip().endswith("s")
    assert "done in" in out


def test_beat_runs_it_hourly():
    from django.conf import settings

    from qiiub.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["retention"]
    assert entry["task"] == "qiiub.retention_run" and entry["task"] in app.tasks
    assert entry["schedule"].minute == {17} and len(entry["schedule"].hour) == 24


def test_the_processors_records_are_kept_with_the_books_and_a_refunded_sale_still_goes(personas):
    from datetime import timedelta

    from payments.store.models import Refund, SettledTransaction

    colmado = personas.colmado
    old_id, _ = sell(colmado, at=ago(7 * 366 + 2))
    with schema_context(colmado.schema_name):
        old_sale = Sale.objects.get(client_uuid=old_id)
        Refund.objects.create(sale=old_sale, tender=old_sale.tenders.first(), merchant_integration_id=1,
                              amount=Decimal("1.00"), processor_ref="pi_old", requested_at=ago(7 * 366))
        rows = [SettledTransaction.objects.create(
            merchant_integration_id=1, business_date=when.date(), transaction_ref=f"txn_{days}", processor_ref="pi_x",
            kind="sale", gross=Decimal("1.00"), fee=Decimal("0.03"), net=Decimal("0.97"), transacted_at=when)
            for days, when in ((7 * 366 + 2, ago(7 * 366 + 2)), (30, ago(30) - timedelta(hours=1)))]

    retention_run(now=NOW)

    with schema_context(colmado.schema_name):
        assert not Sale.objects.filter(pk=old_sale.pk).exists()
        assert set(SettledTransaction.objects.filter(pk__in=[row.pk for row in rows]).values_list(
            "transaction_ref", flat=True)) == {"txn_30"}
