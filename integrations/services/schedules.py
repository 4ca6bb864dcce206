"""When scheduled batches run: at a wall-clock time in the merchant's own time zone, so a
Puerto Rico pharmacy's nightly accounting batch runs at 02:00 in San Juan, whatever UTC says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from integrations.models import Category, MerchantIntegration, SyncPattern


@dataclass(frozen=True)
class Daily:
    hour: int

    def first_after(self, local: datetime) -> tuple[date, int]:
        day = local.date() if local.time() < time(self.hour) else local.date() + timedelta(days=1)
        return day, self.hour


@dataclass(frozen=True)
class Monthly:
    day: int
    hour: int

    def first_after(self, local: datetime) -> tuple[date, int]:
        this_month = local.date().replace(day=self.day)
        if (local.date(), local.time()) < (this_month, time(self.hour)):
            return this_month, self.hour
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return date(year, month, self.day), self.hour


# The nightly accounting batch (yesterday's sales, once the stores are closed), the monthly tax
# batch (last month's IVU, well before the 20th when the return is due), and the settlement
# reconciliation (yesterday's card tenders, once processors have closed their batches).
BATCH_SCHEDULES = {Category.ACCOUNTING: Daily(hour=2), Category.TAX: Monthly(day=1, hour=3),
                   Category.PAYMENTS: Daily(hour=6)}
DEFAULT_SCHEDULE = Daily(hour=2)


def next_batch_at(integration: MerchantIntegration, *, after: datetime) -> datetime | None:
    """The first scheduled run after `after` (None for an integration without batches)."""
    definition = integration.definition
    if SyncPattern.SCHEDULED_BATCH not in definition.sync_patterns:
        return None
    zone = ZoneInfo(integration.merchant.time_zone)
    day, hour = BATCH_SCHEDULES.get(definition.category, DEFAULT_SCHEDULE).first_after(after.astimezone(zone))
    # A wall-clock time a DST change skips comes out as the first moment after it.
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
