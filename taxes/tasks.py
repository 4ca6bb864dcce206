from celery import shared_task

from taxes.filings import reminders_send


@shared_task(name="taxes.remind_ivu_returns", ignore_result=True)
def remind_ivu_returns() -> int:
    return reminders_send()
