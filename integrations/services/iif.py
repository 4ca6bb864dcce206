"""QuickBooks Desktop: a general-journal IIF file of a period's sales, one balanced TRNS block per
location and day, account names from the integration's mappings (QuickBooks Desktop matches them
against its chart of accounts by name). The export is recorded in the sync logs.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from integrations.models import IntegrationSyncLog, MerchantIntegration, SyncStatus
from integrations.services.exports import FileExport
from integrations.services.journal import Journal, daily_journal
from qiiub.errors import ValidationFailed

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


def iif_export(*, integration: MerchantIntegration, start: date, end: date, by=None) -> FileExport:
    """The IIF of every location's sales from `start` to `end` (inclusive, merchant's days)."""
    if end < start:
        raise ValidationFailed("The period ends before it starts.", field_errors={"end": ["Must be on or after the start."]})
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(f"Export at most {MAX_DAYS} days at a time.", field_errors={"end": ["Period too long."]})
    started = timezone.now()
    journals = [
        daily_journal(integration=integration, location=location, day=start + timedelta(days=offset))
        for location in integration.merchant.locations.order_by("code")
        for offset in range((end - start).days + 1)
    ]
    unmapped = sorted({code for journal in journals for code in journal.unmapped})
    if unmapped:
        export_log(integration, started, SyncStatus.FAILED, 0, f"Map these codes first: {', '.join(unmapped)}.")
        raise ValidationFailed(
            f"Some codes in these sales have no account: map {', '.join(unmapped)} in the integration's mappings, "
            "then export again.", field_errors={"mappings": unmapped}, code="unmapped_codes",
        )
    postable = [journal for journal in journals if journal.postable]  # each balanced, or daily_journal refused
    export_log(integration, started, SyncStatus.SUCCESS, len(postable), "")
    return FileExport(
        filename=f"qiiub-{integration.merchant.slug}-{start.isoformat()}-{end.isoformat()}.iif",
        text=HEADER + "".join(_block(journal) for journal in postable),
        records=len(postable),
    )


def export_log(integration: MerchantIntegration, started, status: str, pushed: int, error: str) -> None:
    """Every export is recorded in the integration's sync logs."""
    IntegrationSyncLog.objects.create(
        merchant_integration=integration, direction="push", status=status, records_pushed=pushed,
        error_count=1 if error else 0, error_summary=error, started_at=started, finished_at=timezone.now(),
        duration_ms=int((timezone.now() - started).total_seconds() * 1000),
    )
