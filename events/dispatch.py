"""Delivering events in batches (DESIGN D16): claim a set of due deliveries under a lease in one
statement, send them concurrently outside any transaction, and record their outcomes (a success,
a retry after the policy's wait, held, or dead) a set at a time, fenced by the attempt number.

On a worker, `dispatch` hands the claimed set to the process's sender (`events.sender`) and
returns; anywhere else (an eager task in the tests, a Service Bus consumer, a person's resend),
`deliver_batch` sends them one after another here and records them before it returns.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events import claims
from events.bus import get_bus
from events.claims import Settled
from events.models import DeliveryStatus, EventDelivery
from events.sender import Job, Sender, sender
from events.subscribers import Answer, subscriber_for
from qiiub.http import ConnectorError, RateLimited

logger = logging.getLogger(__name__)

GIVEN_BACK_RETRY_S = 1  # a delivery given back unsent (its receiver stayed busy) goes again after this


@dataclass
class Outcome:
    """What one claimed delivery's attempt came to; `sent` False: given back without being sent."""

    delivery: EventDelivery
    answer: Answer | None = None
    error: ConnectorError | None = None
    duration_ms: int = 0
    sent: bool = True


def deliver(*, delivery_id: int) -> str | None:
    """Attempt one delivery here and now; its new status (None when there was nothing to do)."""
    return deliver_batch([delivery_id]).get(delivery_id)


def deliver_batch(delivery_ids: list[int]) -> dict[int, str]:
    """Claim, send one after another in this thread, record: each delivery's new status."""
    return record([job.send() for job in _claimed_jobs(delivery_ids)])


def _claimed_jobs(delivery_ids: list[int]) -> list[Job]:
    claimed = claims.claim(delivery_ids)
    try:
        return _jobs(claimed)
    except Exception:
        # Nothing was sent: give the set back now rather than leave it to wait out its lease (the
        # task is retried, or the sweep sends it again). A refusal already settled is fenced off.
        claims.unclaim(claimed, next_attempt_at=timezone.now())
        raise


def dispatch(delivery_ids: list[int], *, via: Sender | None = None) -> None:
    """On a worker: claim the set once the process's sender (or `via`) has room for it, and hand
    it over to be sent."""
    via = via or sender(record)
    via.wait_for_room(len(delivery_ids))
    via.submit(_claimed_jobs(delivery_ids))


def _jobs(claimed: list[EventDelivery]) -> list[Job]:
    """The claimed deliveries ready to send; those their subscriber refuses now are settled unsent
    (an integration that stopped receiving holds them; a disabled endpoint ends them)."""
    refused, jobs = defaultdict(list), []
    # The last moment a send may start and still end (timeout included) within its lease.
    longest_call_s = max(settings.CONNECTOR_TIMEOUT_S, settings.WEBHOOK_TIMEOUT_S) + 5
    lease_s = claims.lease().total_seconds()
    start_by = time.monotonic() + max(lease_s / 2, lease_s - longest_call_s)
    for delivery in claimed:
        subscriber = subscriber_for(delivery.subscriber_kind)
        if changes := subscriber.refusal(delivery):
            refused[tuple(sorted(changes.items()))].append(delivery)
            continue
        jobs.append(Job(
            key=delivery.subscriber_key, limit=subscriber.concurrency(delivery), start_by=start_by,
            send=_sender_of(delivery, subscriber.prepare(delivery)),
            unsent=lambda delivery=delivery: Outcome(delivery, sent=False),
        ))
    for changes, deliveries in refused.items():
        claims.unclaim(deliveries, **dict(changes))
    return jobs


def _sender_of(delivery: EventDelivery, call):
    def send() -> Outcome:
        started = time.monotonic()
        try:
            answer = call()
        except ConnectorError as error:
            return Outcome(delivery, answer=getattr(error, "answer", None), error=error, duration_ms=_since(started))
        return Outcome(delivery, answer=answer, duration_ms=_since(started))

    return send


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def record(outcomes: list[Outcome]) -> dict[int, str]:
    """Write a set of outcomes: one statement for all of them with their attempt log, then each
    subscriber's own bookkeeping. Failures commit with that bookkeeping (a failure streak counted
    exactly when its failed attempt is), and a retry is queued for their next attempt time."""
    given_back = [outcome.delivery for outcome in outcomes if not outcome.sent]
    if given_back:
        claims.unclaim(given_back, next_attempt_at=timezone.now())
        get_bus().send([delivery.pk for delivery in given_back], countdown=GIVEN_BACK_RETRY_S)
    settled = {outcome.delivery.pk: _settled(outcome) for outcome in outcomes if outcome.sent}
    if not settled:
        return {}
    failures = [outcome for outcome in outcomes if outcome.sent and outcome.error is not None]
    with transaction.atomic():
        recorded = claims.record(list(settled.values()))
        for outcome in failures:
            if outcome.delivery.pk in recorded:
                subscriber_for(outcome.delivery.subscriber_kind).failed(outcome.delivery, outcome.error)
        _queue_retries([settled[pk] for pk in recorded if settled[pk].next_attempt_at is not None])
    _count_successes([outcome.delivery for outcome in outcomes if outcome.sent and outcome.error is None
                      and outcome.delivery.pk in recorded])
    return {pk: settled[pk].status for pk in recorded}


def _settled(outcome: Outcome) -> Settled:
    delivery, error = outcome.delivery, outcome.error
    attempt = None
    if error is not None or outcome.answer is not None:
        # An integration's success is the delivery row itself: its log keeps what went wrong, not a
        # row per delivered event. A webhook endpoint's log shows every answer.
        answer = outcome.answer
        attempt = {
            "delivery_id": delivery.pk, "number": delivery.attempts, "succeeded": error is None,
            "error": error.message if error else "", "duration_ms": outcome.duration_ms,
            "status_code": getattr(answer, "status_code", None), "response_excerpt": getattr(answer, "excerpt", ""),
            "error_code": error.reason if error else "", "error_params": error.params if error else None,
            **(answer.attempt_details() if answer is not None else {}),
        }
    if error is None:
        return Settled(delivery, DeliveryStatus.SUCCEEDED, attempt=attempt)
    delay_s = subscriber_for(delivery.subscriber_kind).retry_delay_s(delivery, error)
    if delay_s is None or delivery.attempts >= delivery.max_attempts:
        logger.warning("event.delivery_dead", extra={"delivery_id": delivery.pk, "error_code": error.code})
        return Settled(delivery, DeliveryStatus.DEAD, last_error=error.message, attempt=attempt)
    if isinstance(error, RateLimited) and error.retry_after:
        delay_s = max(delay_s, error.retry_after)  # the receiver said how long to wait
    return Settled(delivery, DeliveryStatus.PENDING, next_attempt_at=timezone.now() + timedelta(seconds=delay_s),
                   last_error=error.message, attempt=attempt)


def _queue_retries(retrying: list[Settled]) -> None:
    # One task per whole second of wait: a set of failures at once (a receiver down) is retried in
    # a few batches, not one message each. The sweep re-sends any whose message is lost.
    by_second = defaultdict(list)
    now = timezone.now()
    for item in retrying:
        by_second[max(0, int((item.next_attempt_at - now).total_seconds()) + 1)].append(item.delivery.pk)
    for wait, ids in by_second.items():
        transaction.on_commit(lambda ids=ids, wait=wait: get_bus().send(ids, countdown=wait), robust=True)


def _count_successes(delivered: list[EventDelivery]) -> None:
    # Once per receiver and set: its standing needs one success, however many went through.
    by_receiver = {delivery.subscriber_key: delivery for delivery in delivered}
    for delivery in by_receiver.values():
        subscriber_for(delivery.subscriber_kind).succeeded(delivery)
