"""File exports, one per integration code that has them (the `file_export` sync pattern): what the
portal's "Download" button on an integration's page produces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _

from integrations.models import MerchantIntegration
from qiiub.errors import NotAllowed, ValidationFailed


@dataclass(frozen=True)
class FileExport:
    filename: str
    text: str
    records: int  # journals, returns… what the file holds
    content_type: str = "application/octet-stream"


def _iif(integration: MerchantIntegration, start: date, end: date, by, skip_unmapped: bool) -> FileExport:
    from integrations.services.iif import iif_export

    return iif_export(integration=integration, start=start, end=end, by=by, skip_unmapped=skip_unmapped)


def _ivu(integration: MerchantIntegration, start: date, end: date, by, skip_unmapped: bool) -> FileExport:
    from django.utils import timezone

    from integrations.models import SyncStatus
    from integrations.services.iif import export_log
    from taxes.ivu import ivu_return

    if (start.year, start.month) != (end.year, end.month):
        raise ValidationFailed(_("The IVU return covers one calendar month: choose days of the same month."),
                               field_errors={"end": [_("Same month as the start.")]})
    started = timezone.now()
    result = ivu_return(merchant=integration.merchant, year=start.year, month=start.month)
    # A difference between collected and due is written down, not hidden: the file still comes.
    export_log(integration, started, SyncStatus.PARTIAL if result.problems else SyncStatus.SUCCESS,
               result.sales_count, "\n".join(result.problems))
    return FileExport(filename=f"ivu-{integration.merchant.slug}-{result.period}.csv", text=result.as_csv(),
                      records=result.sales_count, content_type="text/csv")


EXPORTERS: dict[str, Callable[[MerchantIntegration, date, date, object, bool], FileExport]] = {
    "accounting.quickbooks_desktop": _iif,
    "tax.suri_ivu": _ivu,
}


def integration_export(*, integration: MerchantIntegration, start: date, end: date, by=None,
                       skip_unmapped: bool = False) -> FileExport:
    """The period's file; `skip_unmapped` leaves out what has no mapping instead of refusing."""
    exporter = EXPORTERS.get(integration.definition.code)
    if exporter is None:
        raise NotAllowed(_("%(name)s has no file export.") % {"name": integration.definition.name}, code="no_export")
    return exporter(integration, start, end, by, skip_unmapped)
