from celery import shared_task

from integrations.events import services


@shared_task(name="events.deliver", ignore_result=True)
def deliver_event(delivery_id: int) -> None:
    services.deliver(delivery_id=delivery_id)


@shared_task(name="events.sweep", ignore_result=True)
def sweep_outbox() -> None:
    services.sweep()
