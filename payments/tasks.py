"""Payments' background work: asking processors again about refunds whose outcome is unknown."""

import uuid

from celery import shared_task

from merchants.models import Merchant
from payments import refunds


@shared_task(name="payments.refund_resume", ignore_result=True)
def refund_resume_task(merchant_id: int, refund_id: str) -> None:
    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is not None:
        refunds.refund_resume(merchant=merchant, refund_id=uuid.UUID(refund_id))


@shared_task(name="payments.refunds_resume_pending", ignore_result=True)
def refunds_resume_pending() -> int:
    """The safety net for a resume task that was lost (Redis down, a worker killed)."""
    return refunds.refunds_resume_pending()
