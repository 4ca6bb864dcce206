"""The retry policy, in one place: how long to wait before trying again and when to give up, for
polls, event deliveries to integrations and deliveries to merchants' webhook endpoints, and how a
vendor's Retry-After is read. No domain imports: every retrying path reads its numbers here."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# A vendor asking for more than a day is treated as asking for a day: the sync still comes back.
MAX_RETRY_AFTER_S = 86_400
# A poll that got a 429 without a Retry-After tries again this much later.
RATE_LIMIT_BACKOFF = timedelta(minutes=1)

# An integration's failures in a row: the 3rd auto-pauses it (and emails its merchant's admins),
# the 10th puts it in SystemAdmin's review queue. 1–2 are logged and retried.
AUTO_PAUSE_AFTER_FAILURES = 3
REVIEW_AFTER_FAILURES = 10

# Event deliveries to integrations: exponential backoff with jitter.
EVENT_RETRY_BASE_S = 10  # first retry after ~10 s, doubling each time
EVENT_RETRY_CAP_S = 3600  # never wait more than an hour between attempts

# Deliveries to webhook endpoints follow Svix's schedule: after the immediate attempt, wait 5 s,
# 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; an endpoint failing for 5 days straight is disabled.
WEBHOOK_RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
WEBHOOK_MAX_ATTEMPTS = len(WEBHOOK_RETRY_SCHEDULE_S) + 1
WEBHOOK_DISABLE_AFTER_FAILING = timedelta(days=5)


# An email the provider did not take (5xx, timeout, an invalid key an operator is fixing) is sent
# again after 1, 5, 15, 30 and 30 minutes: about 80 minutes in all. Each wait stays under the Redis
# broker's hour of visibility, past which a waiting message is handed out twice.
EMAIL_RETRY_SCHEDULE_S = (60, 300, 900, 1800, 1800)


def event_retry_delay_s(attempt: int) -> float:
    """After failed attempt `attempt` (1, 2, …): 10 s, 20 s, 40 s … capped at an hour, each scaled 0.5–1×."""
    return min(EVENT_RETRY_CAP_S, EVENT_RETRY_BASE_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def webhook_retry_delay_s(attempt: int) -> int:
    """After failed attempt `attempt` (1, 2, …), the wait Svix's schedule gives (its last, after that)."""
    return WEBHOOK_RETRY_SCHEDULE_S[min(attempt, len(WEBHOOK_RETRY_SCHEDULE_S)) - 1]


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """The wait a Retry-After header asks for, in seconds: delay-seconds (Shopify sends "2.0") or an
    HTTP-date (RFC 9110). None when absent or unreadable, so the caller's own backoff applies."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    wait = (when - (now or datetime.now(UTC))).total_seconds()
    return float(min(max(wait, 0.0), MAX_RETRY_AFTER_S))
