"""Punchcard, a loyalty-points vendor that exists only in the tests: the connector written by
following docs/adding-a-connector.md, step 1. A real one lives in integrations/connectors/."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from integrations.connectors.base import Connector, SyncResult
from integrations.connectors.registry import register
from qiiub.http import VendorRejected, shared_session

CODE = "crm.punchcard"
VENDOR_BASE_URL = "https://api.punchcard.example"


@register(CODE)
class Punchcard(Connector):
    capabilities = frozenset({"test_connection", "poll"})

    @property
    def base_url(self) -> str:
        return getattr(settings, "PUNCHCARD_BASE_URL", VENDOR_BASE_URL).rstrip("/")

    def _headers(self) -> dict:
        return {"X-Api-Key": self.credentials["api_key"]}

    def test_connection(self) -> None:
        account = self._request(shared_session(), "GET", f"{self.base_url}/v1/account", headers=self._headers()).json()
        if account.get("program") != self.configuration["program"]:
            raise VendorRejected(f"This API key belongs to the program '{account.get('program')}', "
                                 f"not '{self.configuration['program']}'.")

    def sync(self, *, since: datetime | None) -> SyncResult:
        params = {"since": since.isoformat()} if since else {}
        body = self._request(shared_session(), "GET", f"{self.base_url}/v1/members", params=params,
                             headers=self._headers()).json()
        newest = max((datetime.fromisoformat(member["joined_at"]) for member in body["members"]), default=since)
        return SyncResult(direction="pull", records_pulled=len(body["members"]), new_watermark=newest)
