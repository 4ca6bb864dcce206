"""The bus's port to whoever receives events. Each kind of subscriber (merchant integrations,
merchants' webhook endpoints) is described by the app that owns it and registered from that app's
`AppConfig.ready()`: the bus relays, sends, retries and replays without importing any of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from events.models import EventDelivery, OutboxEvent
from qiiub.http import ConnectorError


class NewDelivery(NamedTuple):
    """A delivery the relay is to create (rows, not model instances: one per event and receiver)."""

    subscriber_key: str  # unique per event: "integration:<id>", "webhook:<id>"
    max_attempts: int
    held: bool = False  # its receiver takes nothing now: it waits, not sent
    merchant_integration_id: int | None = None
    webhook_endpoint_id: int | None = None


class Answer(Protocol):
    """What a receiver answered, as its delivery's attempt log keeps it."""

    status_code: int | None
    excerpt: str

    def attempt_details(self) -> dict[str, Any]:
        """Further DeliveryAttempt fields (headers sent and answered, a failure's code)."""


class Subscriber(ABC):
    kind: str  # a SubscriberKind value: the deliveries of this kind are this subscriber's

    @abstractmethod
    def audience(self, merchant_ids: set[int]) -> Callable[[OutboxEvent], list[NewDelivery]]:
        """Who receives each event of these merchants, read once per relay batch: the returned
        function gives the event's deliveries of this kind to create."""

    @abstractmethod
    def refusal(self, delivery: EventDelivery) -> dict | None:
        """At claim time: the delivery's new fields if it must not be sent now (held, or dead),
        else None."""

    @abstractmethod
    def prepare(self, delivery: EventDelivery) -> Callable[[], Answer | None]:
        """On the claiming thread, where the database is at hand (credentials, signing secrets):
        the call that sends the event, run later on a send thread without the database. The call
        returns the receiver's answer to log (or None) and raises ConnectorError."""

    @abstractmethod
    def concurrency(self, delivery: EventDelivery) -> int:
        """How many of this receiver's deliveries a worker process sends at once."""

    @abstractmethod
    def retry_delay_s(self, delivery: EventDelivery, error: ConnectorError) -> float | None:
        """How long to wait before the next attempt after this failure; None: never again."""

    @abstractmethod
    def failed(self, delivery: EventDelivery, error: ConnectorError) -> None:
        """Bookkeeping of the subscriber's own standing, in the failure's transaction."""

    @abstractmethod
    def succeeded(self, delivery: EventDelivery) -> None:
        """Bookkeeping of the subscriber's own standing after a success."""

    @abstractmethod
    def attempt_budget(self, delivery: EventDelivery) -> int:
        """The attempts a replayed dead delivery gets afresh."""

    @abstractmethod
    def handler_name(self, delivery: EventDelivery) -> str:
        """The name a message broker routes this delivery by (a Service Bus subscription)."""

    @abstractmethod
    def broker_filters(self) -> dict[str, str]:
        """Broker subscription name → its SQL filter, for every handler of this kind."""


_subscribers: dict[str, Subscriber] = {}
_sweeps: list[Callable[[], None]] = []


def register(subscriber: Subscriber) -> None:
    _subscribers[subscriber.kind] = subscriber


def subscriber_for(kind: str) -> Subscriber:
    return _subscribers[kind]


def subscribers() -> list[Subscriber]:
    return list(_subscribers.values())


def register_sweep(sweep: Callable[[], None]) -> None:
    """A catch-up that runs with the bus's periodic sweep: another at-least-once queue (inbound
    webhooks) whose own hand-off to a worker may have been lost."""
    _sweeps.append(sweep)


def run_sweeps() -> None:
    for sweep in _sweeps:
        sweep()
