"""Beat's hourly retention run (ADR 0039), the heartbeat that shows a worker and beat alive, and
emails sent again after a provider error (ADR 0043)."""

from celery import shared_task

from qiiub.health import heartbeat_record
from qiiub.mail import RenderedEmail, email_deliver
from qiiub.retention import retention_run


@shared_task(name="qiiub.retention_run", ignore_result=True)
def retention_run_hourly() -> dict[str, int]:
    return retention_run().deleted


@shared_task(name="qiiub.heartbeat", ignore_result=True)
def heartbeat() -> None:
    heartbeat_record()


@shared_task(name="qiiub.email_resend", ignore_result=True)
def email_resend(email: dict, attempt: int) -> None:
    """Another attempt at an email the provider did not take (qiiub/mail.py)."""
    email_deliver(RenderedEmail(**email), attempt=attempt)
