"""The demo connector: real HTTP calls to the local demo simulator (`simulators/demo.py`).

It serves no definition of the registry: every available integration has a connector of its own.
The test and bench vendors subclass it and register codes of their own (`tests/sandbox_vendors.py`:
the event bus's sandbox ledgers, a POS-level sandbox relay), so the paths they exercise run over
real HTTP whatever each real connector does.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from integrations.connectors.base import Connector, SyncResult
from qiiub.http import VendorRejected, shared_session


class DemoConnector(Connector):
    capabilities = frozenset({"test_connection", "poll", "scheduled_batch", "handle_event"})

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.base_url = settings.DEMO_BASE_URL.rstrip("/")
        self.auth = {"Authorization": f"Bearer {self._token()}"}

    def _token(self) -> str:
        # The first secret the merchant gave (API key, access token or password) authenticates.
        for value in self.credentials.values():
            if isinstance(value, str) and value:
                return value
        return ""

    def test_connection(self) -> None:
        body = self._request(shared_session(), "GET", f"{self.base_url}/v1/ping", headers=self.auth).json()
        if not body.get("ok"):
            raise VendorRejected("account_unconfirmed", vendor=self.vendor, detail=str(body)[:200])

    def sync(self, *, since: datetime | None) -> SyncResult:
        body = self._request(
            shared_session(),
            "POST",
            f"{self.base_url}/v1/sync",
            json={"since": since.isoformat() if since else None},
            headers=self.auth,
        ).json()
        return SyncResult(
            direction=body.get("direction", "push"),
            records_pushed=int(body.get("pushed", 0)),
            records_pulled=int(body.get("pulled", 0)),
            record_errors=list(body.get("record_errors", [])),
            new_watermark=datetime.fromisoformat(body["watermark"]) if body.get("watermark") else None,
        )

    def handle_event(self, *, event_id: str, event_type: str, payload: dict) -> None:
        self._request(
            shared_session(),
            "POST",
            f"{self.base_url}/v1/events",
            json={"type": event_type, "data": payload},
            headers={**self.auth, "Idempotency-Key": event_id},
        )
