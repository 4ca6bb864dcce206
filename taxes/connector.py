"""SURI (Puerto Rico's IVU): no API to call. The monthly tax batch prepares last month's return
(`taxes.filings`), the admins are emailed that it is ready and reminded before the 20th, and the
file is downloaded from the integration's page (`integrations.services.exports`). The taxes app owns
it, as it owns the IVU rules and returns; the registry finds it by autodiscovery."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations.connectors.base import Connector, FileExport, SyncResult
from integrations.connectors.iif import export_log
from integrations.connectors.registry import register
from integrations.models import SyncStatus
from merchants.store.models import TaxJurisdiction as Jurisdiction
from qiiub.errors import ValidationFailed
from qiiub.http import VendorRejected
from qiiub.messages import free_text
from taxes.filings import SURI_CODE, due_date, filing_prepare, previous_month
from taxes.ivu import ivu_return
from taxes.models import IvuRate


@register(SURI_CODE)
class Suri(Connector):
    capabilities = frozenset({"test_connection", "scheduled_batch", "file_export"})
    export_help = gettext_lazy("The IVU return of one calendar month, all locations: taxable and exempt sales, IVU "
                               "due by the rates of each day, against what the tills collected. File it in SURI by "
                               "the 20th.")
    export_button = gettext_lazy("Download the IVU return")
    panel_template = "taxes/_ivu_filings.html"

    @classmethod
    def panel_context(cls, integration) -> dict:
        return {"ivu_filings": integration.merchant.ivu_filings.all()[:12]}

    @classmethod
    def default_export_period(cls, today: date) -> tuple[date, date]:
        """Last month: a return covers one calendar month."""
        last_day = today.replace(day=1) - timedelta(days=1)
        return last_day.replace(day=1), last_day

    @classmethod
    def export_file(cls, *, integration, start, end, by, skip_unmapped) -> FileExport:
        if (start.year, start.month) != (end.year, end.month):
            raise ValidationFailed(_("The IVU return covers one calendar month: choose days of the same month."),
                                   field_errors={"end": [_("Same month as the start.")]})
        started = timezone.now()
        result = ivu_return(merchant=integration.merchant, year=start.year, month=start.month)
        # A difference between collected and due is written down, not hidden: the file still comes.
        export_log(integration, started, SyncStatus.PARTIAL if result.problems else SyncStatus.SUCCESS,
                   result.sales_count, free_text("\n".join(result.problems)) if result.problems else None)
        return FileExport(filename=f"ivu-{integration.merchant.slug}-{result.period}.csv", text=result.as_csv(),
                          records=result.sales_count, content_type="text/csv")

    def test_connection(self) -> None:
        """Nothing to sign in to: the test is that an IVU rate of each jurisdiction is in force on
        the merchant's today, so a return can be made."""
        today = timezone.now().astimezone(ZoneInfo(self.integration.merchant.time_zone)).date()
        in_force = set(IvuRate.objects.in_force_on(today).values_list("jurisdiction", flat=True))
        missing = [str(label) for value, label in Jurisdiction.choices if value not in in_force]
        if missing:
            raise VendorRejected("ivu_no_rate", jurisdictions=" + ".join(missing))

    def sync(self, *, since: datetime | None) -> SyncResult:
        merchant = self.integration.merchant
        period = previous_month(merchant)
        filing = filing_prepare(merchant=merchant, period=period)
        # The watermark: the end of the month the return covers.
        month_end = datetime.combine(due_date(period).replace(day=1), time(0), tzinfo=ZoneInfo(merchant.time_zone))
        return SyncResult(direction="push", records_pushed=filing.sales_count,
                          record_errors=filing.problems.splitlines(), new_watermark=month_end)
