"""Payments' background work: asking processors again about refunds whose outcome is unknown, and
reconciling a day on demand (the nightly run is the integration's scheduled batch)."""

import uuid
from datetime import date

from celery import shared_task

from integrations.models import MerchantIntegration, Status
from merchants.models import Merchant
from payments import refunds
from payments.settlement import reconcile


@shared_task(name="payments.refund_resume", ignore_result=True)
def refund_resume_task(merchant_id: int, refund_id: str) -> None:
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is not None:
        refunds.refund_resume(merchant=merchant, refund_id=uuid.UUID(refund_id))


@shared_task(name="payments.refunds_resume_pending", ignore_result=True)
def refunds_resume_pending() -> int:
    """The safety net for a resume task that was lost (Redis down, a worker killed)."""
    return refunds.refunds_resume_pending()


@shared_task(name="payments.reconcile_day", ignore_result=True)
def reconcile_day_task(integration_id: int, day: str) -> None:
    integration = (MerchantIntegration.objects.filter(pk=integration_id, status=Status.ACTIVE)
                   .select_related("merchant", "definition").first())
    if integration is not None:
        reconcile(integration=integration, days=[date.fromisoformat(day)])
