"""Beat's hourly retention run (ADR 0039)."""

from celery import shared_task

from qiiub.retention import retention_run


@shared_task(name="qiiub.retention_run", ignore_result=True)
def retention_run_hourly() -> dict[str, int]:
    return retention_run().deleted
