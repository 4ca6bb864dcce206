from celery import shared_task

from webhooks.inbound import inbound_process


@shared_task(name="webhooks.process_inbound", ignore_result=True)
def process_inbound_webhook(inbound_id: int) -> None:
    inbound_process(inbound_id=inbound_id)
