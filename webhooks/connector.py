"""The connector of `platform.webhooks`, our own outbound webhooks. This app owns it; the connector
registry finds it by autodiscovery (`integrations.connectors.registry.autodiscover`).

The integration pushes events, but not through its installation: each of the merchant's endpoints
is a subscriber of the event bus of its own, for the event types it chose, and its deliveries are
sent by `services.send_event`. What the installation does is test the connection: a signed test
event to each enabled endpoint, as the endpoint page's Test button sends one.
"""

from __future__ import annotations

from integrations.connectors.base import Connector
from integrations.connectors.registry import register
from qiiub.errors import ApplicationError
from qiiub.http import ConnectorError, VendorRejected
from qiiub.messages import Message
from webhooks.services import EndpointGone, test_event_send
from webhooks.targets import TargetRefused


class NoWebhookEndpoint(ConnectorError):
    """Nothing to test: the merchant has no enabled endpoint."""

    code = "no_webhook_endpoint"
    http_status = 409


@register("platform.webhooks")
class Webhooks(Connector):
    # `handle_event` is what the webhook_push pattern asks for: the endpoints' own deliveries push.
    capabilities = frozenset({"test_connection", "handle_event"})
    # The endpoints subscribe on their own, each to the event types it chose: the installation takes none.
    event_types = frozenset()

    def test_connection(self) -> None:
        """Send a signed test event to each enabled endpoint; raise naming every one that failed."""
        endpoints = self.integration.merchant.webhook_endpoints
        enabled = list(endpoints.filter(enabled=True))
        if not enabled:
            raise NoWebhookEndpoint("webhook_all_disabled" if endpoints.exists() else "webhook_no_endpoint")
        failures: list[tuple[str, ApplicationError]] = []
        for endpoint in enabled:
            try:
                test_event_send(endpoint=endpoint)
            except (ConnectorError, TargetRefused) as error:
                failures.append((endpoint.url, error))
        if failures:
            first = failures[0][1]
            raise _failure_kind(first)("webhook_tests_failed", failures=[
                Message("webhook_test_failed", {"url": url, "reason": Message(error.reason, error.params).stored()})
                .stored() for url, error in failures]) from first


def _failure_kind(error: ApplicationError) -> type[ConnectorError]:
    """The typed error a failed test event means: a delivery's, except that a test disables nothing
    (410 Gone) and an address refused at send time is the merchant's to change."""
    if isinstance(error, EndpointGone | TargetRefused):
        return VendorRejected
    return type(error)
