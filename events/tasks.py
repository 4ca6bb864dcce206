from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutting_down
from django.conf import settings
from django.db import DatabaseError

from events import dispatch, relay
from events.bus import CeleryBus
from events.sender import running_sender

# Both are idempotent, so a transient database error (a deadlock, a restart) is simply retried.
RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 1, "retry_backoff_max": 30, "max_retries": 8}


@shared_task(name="events.relay", ignore_result=True, **RETRY)
def relay_events(*_event_id) -> None:
    # A message queued by the version before batching carries one event id: the drain covers it.
    CeleryBus().clear_relay_wake()
    relay.relay_pending()


@shared_task(name="events.deliver_batch", bind=True, ignore_result=True, **RETRY)
def deliver_batch(self, delivery_ids: list[int]) -> None:
    if self.request.is_eager:  # in its caller's process and transaction: send and record here
        dispatch.deliver_batch(delivery_ids)
    else:
        dispatch.dispatch(delivery_ids)


@shared_task(name="events.deliver", ignore_result=True, **RETRY)
def deliver_event(delivery_id: int) -> None:
    # A message queued by the version before batch delivery carries one delivery id.
    dispatch.dispatch([delivery_id])


@shared_task(name="events.sweep", ignore_result=True)
def sweep_outbox() -> None:
    relay.sweep()


@worker_shutting_down.connect
@worker_process_shutdown.connect
def _finish_deliveries_in_flight(**_) -> None:
    # A worker stopping (a deploy) first lets its sends end and their outcomes be written; whatever
    # is still out when the wait ends is re-sent by the sweep once its lease lapses.
    if (in_flight := running_sender()) is not None:
        in_flight.drain(timeout=settings.WEBHOOK_TIMEOUT_S + 5)
