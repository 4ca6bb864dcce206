"""Payments on the real stack: the nightly reconciliation as the processor integration's scheduled
batch, run by a real Celery worker against the Stripe fake over HTTP, and a refund whose answer was
lost finished by the worker with the same key."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from integrations.models import IntegrationSyncLog, MerchantIntegration, SyncStatus
from integrations.tasks import enqueue_due_syncs
from merchants.store.models import Sale, Tender
from payments import refunds
from payments.store.models import DayStatus, ReconciliationDay, ReconciliationItem, Refund, RefundStatus
from payments.tasks import refund_resume_task
from tests.factories import run_concurrently, wait_for
from tests.payments.factories import STRIPE_KEY, stripe_card_sale, stripe_connected

pytestmark = pytest.mark.slow
SAN_JUAN = ZoneInfo("America/Puerto_Rico")




@pytest.fixture
def store(committed, stripe_fake):
    """Ferretería Luna with Stripe connected; what the test sells and reconciles is removed after."""
    merchant = committed.retail[1]
    stripe_fake.control(reset=True)
    yield merchant, stripe_connected(merchant)
    with schema_context(merchant.schema_name):
        ReconciliationItem.objects.all().delete()
        ReconciliationDay.objects.all().delete()
        Refund.objects.all().delete()
        Tender.objects.all().delete()
        Sale.objects.all().delete()


def test_the_nightly_batch_reconciles_yesterday_on_the_worker(store, celery_worker_process, stripe_fake):
    merchant, stripe = store
    yesterday = timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1)
    stripe_card_sale(stripe_fake, merchant, at=datetime.combine(yesterday, clock(15), tzinfo=SAN_JUAN))
    MerchantIntegration.objects.filter(pk=stripe.pk).update(next_batch_at=timezone.now())

    enqueue_due_syncs.delay()

    assert wait_for(lambda: IntegrationSyncLog.objects.filter(merchant_integration=stripe,
                                                               status=SyncStatus.SUCCESS).exists())
    with schema_context(merchant.schema_name):
        day = ReconciliationDay.objects.get(merchant_integration_id=stripe.pk, business_date=yesterday)
        assert day.status == DayStatus.COMPLETE
        assert list(ReconciliationItem.objects.filter(business_date=yesterday).values_list("outcome", flat=True)) == [
            "matched"]
    stripe.refresh_from_db()
    next_run = stripe.next_batch_at.astimezone(SAN_JUAN)
    assert next_run > timezone.now() and (next_run.hour, next_run.minute) == (6, 0)  # 06:00 in San Juan


@pytest.mark.fault
def test_a_refund_whose_answer_was_lost_is_finished_by_the_worker_once(store, celery_worker_process, stripe_fake):
    merchant, _ = store
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=timezone.now() - timedelta(hours=1))
    with schema_context(merchant.schema_name):
        sale = Sale.objects.get(client_uuid=sale_uuid)
        tender = sale.tenders.get()
    stripe_fake.control(fail={"status": 503, "count": 3})
    pending = refunds.refund_request(merchant=merchant, sale_id=sale.pk, tender_id=tender.pk, amount="11.15",
                                     refund_id=uuid.uuid4(), by=None)
    assert pending.status == RefundStatus.PENDING

    refund_resume_task.delay(merchant.pk, str(pending.pk))

    def succeeded() -> bool:
        with schema_context(merchant.schema_name):
            return Refund.objects.get(pk=pending.pk).status == RefundStatus.SUCCEEDED
    assert wait_for(succeeded)
    account = stripe_fake.posted()["accounts"][f"sk_test_****{STRIPE_KEY[-4:]}"]
    assert account["refunds"] == 1


@pytest.mark.fault
def test_two_tabs_refunding_at_once_make_one_refund_and_never_more_than_the_tender(store, stripe_fake):
    merchant, _ = store
    sale_uuid, _ = stripe_card_sale(stripe_fake, merchant, at=timezone.now() - timedelta(hours=1))
    with schema_context(merchant.schema_name):
        tender = Sale.objects.get(client_uuid=sale_uuid).tenders.get()
    same = uuid.uuid4()

    def refund(refund_id):
        return lambda: refunds.refund_request(merchant=merchant, sale_id=tender.sale_id, tender_id=tender.pk,
                                              amount="8.00", refund_id=refund_id, by=None)

    twice = run_concurrently(refund(same))
    others = run_concurrently(lambda: refund(uuid.uuid4())())

    assert [result.pk for result in twice] == [same, same]
    assert sum(isinstance(result, Refund) for result in others) == 0  # 8.00 + 8.00 > what is left (3.15)
    with schema_context(merchant.schema_name):
        assert Refund.objects.count() == 1
    assert stripe_fake.posted()["accounts"][f"sk_test_****{STRIPE_KEY[-4:]}"]["refunds"] == 1


@pytest.mark.fault
def test_two_runs_of_one_day_at_once_take_turns_and_write_each_item_once(store, stripe_fake):
    from payments.settlement import reconcile
    from payments.store.models import ReconciliationItem

    merchant, stripe = store
    yesterday = timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1)
    for hour in (9, 10, 11):
        stripe_card_sale(stripe_fake, merchant, at=datetime.combine(yesterday, clock(hour), tzinfo=SAN_JUAN))

    run_concurrently(lambda: reconcile(integration=stripe, days=[yesterday]))

    with schema_context(merchant.schema_name):
        assert ReconciliationItem.objects.filter(business_date=yesterday).count() == 3
