"""The demo connector: real HTTP calls to the local demo simulator (`simulators/demo.py`).

It serves the Phase 1 codes that have no vendor connector yet (Rx30, configured for the terminals,
and our own webhooks, whose endpoints are subscribers of their own), and the event bus's sandbox
ledgers (`tests/sandbox_vendors.py`).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from integrations.connectors.base import Connector, SyncResult
from integrations.connectors.registry import register
from qiiub.http import VendorRejected, shared_session

DEMO_CODES = ("pharmacy.rx30", "platform.webhooks")


class DemoConnector(Connector):
    capabilities = frozenset({"test_connection", "poll", "scheduled_batch", "handle_event"})
    stand_in = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.base_url = settings.DEMO_BASE_URL.rstrip("/")
        self.session = shared_session()
        self.auth = {"Authorization": f"Bearer {self._token()}"}

    def _token(self) -> str:
        # The first secret the merchant gave (API key, access token or password) authenticates.
        for value in self.credentials.values():
            if isinstance(value, str) and value:
                return value
        return ""

    def test_connection(self) -> None:
        if not self.credentials:
            # Nothing to authenticate (file exports, our own webhooks): reachability is the test.
            self._request(self.session, "GET", f"{self.base_url}/health")
            return
        body = self._request(self.session, "GET", f"{self.base_url}/v1/ping", headers=self.auth).json()
        if not body.get("ok"):
            raise VendorRejected("The simulator did not confirm the account.", detail=str(body)[:200])

    def sync(self, *, since: datetime | None) -> SyncResult:
        body = self._request(
            self.session,
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
            self.session,
            "POST",
            f"{self.base_url}/v1/events",
            json={"type": event_type, "data": payload},
            headers={**self.auth, "Idempotency-Key": event_id},
        )


for _code in DEMO_CODES:
    register(_code)(type(f"Demo_{_code.replace('.', '_')}", (DemoConnector,), {}))
