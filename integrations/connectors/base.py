"""The connector contract: what every connector declares (its typed errors are `qiiub.http`'s).

A connector class *describes* one integration code (its capabilities); an instance *acts* for one
merchant integration, with that row's configuration and credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

import requests
from django.conf import settings

from qiiub.card_guard import mask_card_numbers
from qiiub.http import AuthExpired, ConnectorError, VendorRejected, VendorUnavailable, error_for_status

# What a connector must support for each sync pattern its definition lists (a POS-level integration
# runs on the terminal and needs none).
CAPABILITY_FOR_PATTERN = {
    "webhook_push": "handle_event",
    "webhook_receive": "receive_webhook",
    "scheduled_batch": "scheduled_batch",
    "polling": "poll",
    "file_export": "file_export",
}


class InboundRejected(ConnectorError):
    """A pushed webhook that fails verification: answered 401, nothing stored."""

    code = "inbound_rejected"
    http_status = 401


@dataclass
class InboundMeta:
    webhook_id: str
    topic: str


@dataclass(frozen=True)
class FileExport:
    """A downloadable file a connector with the `file_export` capability makes for a period."""

    filename: str
    text: str
    records: int  # journals, returns… what the file holds
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Account:
    """One account of a vendor's chart of accounts. `code` is what a mapping stores and a journal
    line posts (QuickBooks' Id, Xero's Code); `number` is the account number the bookkeeper knows,
    when the vendor keeps one apart from the code."""

    code: str
    name: str
    type: str  # the vendor's own account type ("Bank", "REVENUE"…)
    active: bool = True
    number: str = ""

    @property
    def label(self) -> str:
        return f"{self.number or self.code} — {self.name}"


@dataclass
class SyncResult:
    direction: str
    records_pushed: int = 0
    records_pulled: int = 0
    # Per-record failures in the vendor's words: the run is partial, not failed.
    record_errors: list[str] = field(default_factory=list)
    # What waits for a mapping: each day left unposted ("SJ01 2026-11-24") → its codes with no
    # account ("PaymentMethod CHECK"). The run is partial; the days go out once mapped.
    unmapped: dict[str, list[str]] = field(default_factory=dict)
    new_watermark: datetime | None = None


class Connector:
    """Base class. Subclasses set `capabilities` and implement what they declare."""

    capabilities: ClassVar[frozenset[str]] = frozenset()
    # Signs in by OAuth (connect / reconnect in the portal, no typed secrets): the one source of
    # truth; a seed's `requires_oauth` must agree (load_registry checks).
    requires_oauth: ClassVar[bool] = False
    # Domain event types this connector handles (its subscriptions are derived from these).
    event_types: ClassVar[frozenset[str]] = frozenset()
    max_delivery_attempts: ClassVar[int] = 8
    # Sends at once to one installation per worker process (the vendor's own limit per company);
    # None: EVENT_ENDPOINT_CONCURRENCY.
    max_concurrent_deliveries: ClassVar[int | None] = None
    # Mappings (our codes to the vendor's accounts): the groups it maps and what a target is, in the
    # words the mapping editor shows. No groups: the integration has no mappings.
    mapping_groups: ClassVar[tuple[str, ...]] = ()
    mapping_target_hint: ClassVar[str] = ""
    # The `chart_of_accounts` capability: a connector that can read the vendor's chart implements
    # it, and mapping targets are then picked from it; here, which of the vendor's account types
    # suit each mapping group (the picker offers those first, the others after).
    account_types_by_group: ClassVar[dict[str, frozenset[str]]] = {}
    # The `file_export` capability: what the export card on the integration's page says and offers.
    export_help: ClassVar[str] = ""
    export_button: ClassVar[str] = ""
    # A card of its own on the integration's page: a template, filled by `panel_context`.
    panel_template: ClassVar[str | None] = None

    def __init__(self, *, configuration: dict[str, Any], credentials: dict[str, Any], integration=None):
        self.configuration = configuration
        self.credentials = credentials
        # The merchant integration acted for: what a batch reads (its merchant, mappings,
        # watermark) and where an OAuth grant is refreshed.
        self.integration = integration
        self.timeout = settings.CONNECTOR_TIMEOUT_S

    def supports(self, capability: str) -> bool:
        return capability in self.capabilities

    @classmethod
    def maps_to_chart(cls, configuration: dict) -> bool:
        """Whether an installation with this configuration maps its codes to accounts of the
        vendor's chart (picked from `chart_of_accounts`) rather than to free text."""
        return cls.chart_of_accounts is not Connector.chart_of_accounts

    def chart_of_accounts(self) -> list[Account]:
        """The company's accounts as the vendor lists them; raises a ConnectorError if it cannot."""
        raise NotImplementedError

    @classmethod
    def handles(cls, event_type: str, configuration: dict) -> bool:
        """Whether an installation with this configuration subscribes to the event type."""
        return event_type in cls.event_types

    def test_connection(self) -> None:
        """Return quietly when the credentials work; raise a ConnectorError otherwise."""
        raise NotImplementedError

    def sync(self, *, since: datetime | None) -> SyncResult:
        raise NotImplementedError

    @classmethod
    def verify_inbound(cls, *, headers, body: bytes, credentials: dict) -> InboundMeta:
        """Check a webhook the vendor pushed (signature, freshness); raise InboundRejected if not."""
        raise InboundRejected("This integration does not receive webhooks.")

    def process_inbound(self, *, merchant, topic: str, payload: dict) -> None:
        """Apply a verified webhook to the merchant's data (runs on a worker, once per webhook id)."""
        raise NotImplementedError

    @classmethod
    def export_file(cls, *, integration, start: date, end: date, by, skip_unmapped: bool) -> FileExport:
        """The period's file (the `file_export` capability); `skip_unmapped` leaves out what has no
        mapping instead of refusing."""
        raise NotImplementedError

    @classmethod
    def default_export_period(cls, today: date) -> tuple[date, date]:
        """What the export form offers first: yesterday."""
        return today - timedelta(days=1), today - timedelta(days=1)

    @classmethod
    def panel_context(cls, integration) -> dict:
        return {}

    def handle_event(self, *, event_id: str, event_type: str, payload: dict) -> None:
        """Push one domain event to the vendor. Called at least once per event: `event_id` is the
        idempotency key to pass to vendors that take one."""
        raise NotImplementedError

    def _send(self, session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
        """One HTTP call with a timeout; a transport failure (no answer) is the vendor unavailable."""
        try:
            return session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout as error:
            raise VendorUnavailable("vendor_timeout", vendor=self.vendor) from error
        except requests.RequestException as error:
            raise VendorUnavailable("vendor_unreachable", vendor=self.vendor) from error

    def _request(self, session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
        """One HTTP call with a timeout; transport failures and vendor statuses become typed errors."""
        response = self._send(session, method, url, **kwargs)
        if response.status_code < 400:  # the common case reads nothing more (the vendor's name is a query)
            return response
        if response.status_code in (401, 403):
            raise AuthExpired("credentials_refused", vendor=self.vendor)
        if error := error_for_status(response, who=self.vendor):
            raise error
        # A vendor's answer is outside text we store and show: any card number in it is masked.
        said = mask_card_numbers(self.vendor_message(response))
        raise VendorRejected("request_refused_said" if said else "request_refused", vendor=self.vendor,
                             status=response.status_code, said=said, detail=mask_card_numbers(response.text[:300]))

    @property
    def vendor(self) -> str:
        """Who a message about a call names: the integration's name."""
        return self.integration.definition.name if self.integration is not None else type(self).__name__

    def vendor_message(self, response: requests.Response) -> str:
        """The vendor's own words from an error answer, in its format (empty if none)."""
        return ""
