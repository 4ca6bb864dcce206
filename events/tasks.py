from celery import shared_task
from django.db import DatabaseError

from events import dispatch, relay
from events.bus import CeleryBus

# Both are idempotent, so a transient database error (a deadlock, a restart) is simply retried.
RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 1, "retry_backoff_max": 30, "max_retries": 8}


@shared_task(name="events.relay", ignore_result=True, **RETRY)
def relay_events(*_event_id) -> None:
    # A message queued by the version before batching carries one event id: the drain covers it.
    CeleryBus().clear_relay_wake()
    relay.relay_pending()


@shared_task(name="events.deliver", ignore_result=True, **RETRY)
def deliver_event(delivery_id: int) -> None:
    dispatch.deliver(delivery_id=delivery_id)


@shared_task(name="events.sweep", ignore_result=True)
def sweep_outbox() -> None:
    relay.sweep()
