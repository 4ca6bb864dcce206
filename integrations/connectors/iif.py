"""QuickBooks Desktop: a general-journal IIF file of a period's sales, one balanced TRNS block per
location and day, account names from the integration's mappings (QuickBooks Desktop matches them
against its chart of accounts by name). The export is recorded in the sync logs.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.connectors.base import FileExport
from integrations.connectors.journal import Journal, UnbalancedJournal, daily_journal
from integrations.models import IntegrationSyncLog, MerchantIntegration, SyncStatus
from qiiub.errors import ValidationFailed
from qiiub.messages import Message, free_text

HEADER = "!TRNS\tTRNSTYPE\tDATE\tACCNT\tAMOUNT\tMEMO\n!SPL\tTRNSTYPE\tDATE\tACCNT\tAMOUNT\tMEMO\n!ENDTRNS\n"
MAX_DAYS = 93  # a quarter: a longer file is better made in pieces


def _block(journal: Journal) -> str:
    when = journal.day.strftime("%m/%d/%Y")
    memo = f"QIIUB sales {journal.location_code} {journal.day.isoformat()}"
    rows = []
    for index, line in enumerate(journal.lines):
        # IIF: a debit is positive, a credit negative; the block sums to zero.
        amount = line.amount if line.posting == "Debit" else -line.amount
        keyword = "TRNS" if index == 0 else "SPL"
        rows.append(f"{keyword}\tGENERAL JOURNAL\t{when}\t{_field(line.account)}\t{amount:.2f}\t{_field(memo)}")
    return "\n".join(rows) + "\nENDTRNS\n"


def _field(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


class UnmappedCodes(ValidationFailed):
    """Some days use codes with no account: the export asks before leaving those days out."""

    code = "unmapped_codes"

    def __init__(self, codes: list[str], left_out: list[Journal], exportable: int):
        self.codes, self.left_out, self.exportable = codes, left_out, exportable
        super().__init__(
            f"Some codes in these sales have no account: map {', '.join(codes)} in the integration's mappings, "
            f"then export again. {len(left_out)} of {len(left_out) + exportable} entries are affected.",
            field_errors={"mappings": codes}, code=self.code,
        )


def iif_export(*, integration: MerchantIntegration, start: date, end: date, by=None,
               skip_unmapped: bool = False) -> FileExport:
    """The IIF of every location's sales from `start` to `end` (inclusive, merchant's days).

    A day with an unmapped code is refused with the codes to map (`UnmappedCodes`), unless
    `skip_unmapped`: then the file holds the other days and the sync log is `partial`, naming the
    codes and the days left out. A journal that does not balance fails the whole export."""
    if end < start:
        raise ValidationFailed(_("The period ends before it starts."),
                               field_errors={"end": [_("Must be on or after the start.")]})
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(_("Export at most %(count)s days at a time.") % {"count": MAX_DAYS},
                               field_errors={"end": [_("Period too long.")]})
    started = timezone.now()
    try:
        journals = [
            daily_journal(integration=integration, location=location, day=start + timedelta(days=offset))
            for location in integration.merchant.locations.order_by("code")
            for offset in range((end - start).days + 1)
        ]
    except UnbalancedJournal as error:
        export_log(integration, started, SyncStatus.FAILED, 0, free_text(error.message))
        raise
    postable = [journal for journal in journals if journal.postable]  # each balanced, or daily_journal refused
    left_out = [journal for journal in journals if journal.unmapped]
    codes = sorted({code for journal in left_out for code in journal.unmapped})
    if left_out and not skip_unmapped:
        raise UnmappedCodes(codes, left_out, len(postable))
    summary = None
    if left_out:
        days = ", ".join(f"{journal.location_code} {journal.day.isoformat()}" for journal in left_out[:20])
        summary = Message("export_left_out", {"codes": codes, "days": days + (" …" if len(left_out) > 20 else "")})
    export_log(integration, started, SyncStatus.PARTIAL if left_out else SyncStatus.SUCCESS, len(postable), summary,
               errors=len(left_out))
    return FileExport(
        filename=f"qiiub-{integration.merchant.slug}-{start.isoformat()}-{end.isoformat()}.iif",
        text=HEADER + "".join(_block(journal) for journal in postable),
        records=len(postable),
    )


def export_log(integration: MerchantIntegration, started, status: str, pushed: int, error: Message | None, *,
               errors: int | None = None) -> None:
    """Every export is recorded in the integration's sync logs."""
    IntegrationSyncLog.objects.create(
        merchant_integration=integration, direction="push", status=status, records_pushed=pushed,
        error_count=(1 if error else 0) if errors is None else errors, error_message=error.stored() if error else {},
        started_at=started, finished_at=timezone.now(),
        duration_ms=int((timezone.now() - started).total_seconds() * 1000),
    )
