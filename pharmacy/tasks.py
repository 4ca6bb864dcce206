"""Beat's daily retention pass over the pharmacies' patient data."""

from celery import shared_task

from pharmacy.retention import retention_sweep


@shared_task(name="pharmacy.retention_sweep", ignore_result=True)
def retention_sweep_daily() -> dict[str, int]:
    return retention_sweep()
