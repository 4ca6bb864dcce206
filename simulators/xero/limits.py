"""Xero's rate limits on Accounting calls: per tenant 60 a rolling minute, 5,000 a UTC day and 5 in progress, and
10,000 a rolling minute across the app, each reported in its own header."""

from __future__ import annotations

import math
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from simulators.base import prune

MIN_LIMIT = 60  # calls per rolling minute per tenant
DAY_LIMIT = 5000  # calls per UTC day per tenant
CONCURRENT_LIMIT = 5  # calls in progress per tenant
APP_MIN_LIMIT = 10000  # calls per rolling minute across all tenants
RATE_PROBLEMS = ("minute", "day", "concurrent", "appminute")  # what X-Rate-Limit-Problem names


def seconds_to_utc_midnight() -> int:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return max(1, math.ceil((midnight - now).total_seconds()))


def today() -> str:
    return datetime.now(UTC).date().isoformat()


class RateLimits:
    """The counters `XeroState` keeps for the limits; call with the state's lock held."""

    def reset_limits(self) -> None:
        self.minute_hits: dict[str, deque[float]] = {}  # tenantId → times of admitted calls in the last minute
        self.app_hits: deque[float] = deque()
        self.day_used: dict[str, tuple[str, int]] = {}  # tenantId → (UTC day, calls admitted that day)
        self.in_flight: dict[str, int] = {}

    def day_count(self, tenant: str) -> int:
        day, count = self.day_used.get(tenant, ("", 0))
        return count if day == today() else 0

    def limit_headers(self, tenant: str) -> dict[str, str]:
        now = time.monotonic()
        minute = prune(self.minute_hits.setdefault(tenant, deque()), now)
        app = prune(self.app_hits, now)
        return {
            "X-MinLimit-Remaining": str(max(0, MIN_LIMIT - len(minute))),
            "X-DayLimit-Remaining": str(max(0, DAY_LIMIT - self.day_count(tenant))),
            "X-AppMinLimit-Remaining": str(max(0, APP_MIN_LIMIT - len(app))),
        }

    def admit(self, tenant: str) -> tuple[str, int] | None:
        """Counts an Accounting call against the limits, or returns (problem, Retry-After) without counting it."""
        now = time.monotonic()
        minute = prune(self.minute_hits.setdefault(tenant, deque()), now)
        app = prune(self.app_hits, now)
        if self.day_count(tenant) >= DAY_LIMIT:
            return "day", seconds_to_utc_midnight()
        if len(minute) >= MIN_LIMIT:
            return "minute", max(1, math.ceil(minute[0] + 60 - now))
        if len(app) >= APP_MIN_LIMIT:
            return "appminute", max(1, math.ceil(app[0] + 60 - now))
        if self.in_flight.get(tenant, 0) >= CONCURRENT_LIMIT:
            return "concurrent", 1
        minute.append(now)
        app.append(now)
        self.day_used[tenant] = (today(), self.day_count(tenant) + 1)
        self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
        return None

    def release(self, tenant: str) -> None:
        self.in_flight[tenant] = max(0, self.in_flight.get(tenant, 0) - 1)
