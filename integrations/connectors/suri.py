"""SURI (Puerto Rico's IVU): no API to call. The monthly tax batch prepares last month's return
(`taxes.filings`), the admins are emailed that it is ready and reminded before the 20th, and the
file is downloaded from the integration's page (`integrations.services.exports`)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.utils import timezone

from integrations.connectors import register
from integrations.connectors.base import Connector, SyncResult, VendorRejected
from merchants.store.models import TaxJurisdiction as Jurisdiction
from taxes.filings import SURI_CODE, due_date, filing_prepare, previous_month
from taxes.models import IvuRate


@register(SURI_CODE)
class Suri(Connector):
    capabilities = frozenset({"test_connection", "scheduled_batch", "file_export"})

    def test_connection(self) -> None:
        """Nothing to sign in to: the test is that an IVU rate of each jurisdiction is in force on
        the merchant's today, so a return can be made."""
        today = timezone.now().astimezone(ZoneInfo(self.integration.merchant.time_zone)).date()
        in_force = set(IvuRate.objects.in_force_on(today).values_list("jurisdiction", flat=True))
        missing = [str(label) for value, label in Jurisdiction.choices if value not in in_force]
        if missing:
            raise VendorRejected(f"No rate is in force today for {' and '.join(missing)}: a SystemAdmin sets IVU "
                                 "rates in the admin (Taxes → IVU rates).")

    def sync(self, *, since: datetime | None) -> SyncResult:
        merchant = self.integration.merchant
        period = previous_month(merchant)
        filing = filing_prepare(merchant=merchant, period=period)
        # The watermark: the end of the month the return covers.
        month_end = datetime.combine(due_date(period).replace(day=1), time(0), tzinfo=ZoneInfo(merchant.time_zone))
        return SyncResult(direction="push", records_pushed=filing.sales_count,
                          record_errors=filing.problems.splitlines(), new_watermark=month_end)
