"""QuickBooks Desktop: nothing to call. The merchant downloads a general-journal IIF file for any
period from the integration's page (`integrations.services.iif`), and imports it in QuickBooks."""

from __future__ import annotations

from integrations.connectors import register
from integrations.connectors.base import Connector

CODE = "accounting.quickbooks_desktop"


@register(CODE)
class QuickBooksDesktop(Connector):
    capabilities = frozenset({"test_connection", "file_export"})

    def test_connection(self) -> None:
        """No vendor to reach: the file is the connection."""
