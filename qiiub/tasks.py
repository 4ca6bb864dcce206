"""Beat's hourly retention run (ADR 0039), and the heartbeat that shows a worker and beat alive."""

from celery import shared_task

from qiiub.health import heartbeat_record
from qiiub.retention import retention_run


@shared_task(name="qiiub.retention_run", ignore_result=True)
def retention_run_hourly() -> dict[str, int]:
    return retention_run().deleted


@shared_task(name="qiiub.heartbeat", ignore_result=True)
def heartbeat() -> None:
    heartbeat_record()
