"""QuickBooks Desktop: nothing to call. The merchant downloads a general-journal IIF file for any
period from the integration's page (`integrations.connectors.iif`), and imports it in QuickBooks."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from integrations.connectors.base import Connector, FileExport
from integrations.connectors.iif import iif_export
from integrations.connectors.journal import JOURNAL_MAPPING_GROUPS
from integrations.connectors.registry import register

CODE = "accounting.quickbooks_desktop"


@register(CODE)
class QuickBooksDesktop(Connector):
    capabilities = frozenset({"test_connection", "file_export"})
    mapping_groups = JOURNAL_MAPPING_GROUPS
    mapping_target_hint = gettext_lazy("QuickBooks Desktop account name, exactly as in the chart of accounts")
    export_help = gettext_lazy("A general-journal IIF file of the sales of every location, one balanced entry per "
                               "location and day. In QuickBooks Desktop: File → Utilities → Import → IIF Files.")
    export_button = gettext_lazy("Download IIF")

    def test_connection(self) -> None:
        """No vendor to reach: the file is the connection."""

    @classmethod
    def export_file(cls, *, integration, start, end, by, skip_unmapped) -> FileExport:
        return iif_export(integration=integration, start=start, end=end, by=by, skip_unmapped=skip_unmapped)
