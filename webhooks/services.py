"""Merchant webhook endpoints: create (secret shown once), edit, delete, rotate, enable; send a
test event and resend a delivery, both recorded in the endpoint's delivery log; and the one place
an endpoint's delivery outcome is recorded (`record_endpoint_outcome`).

What the merchant is answered (a refused field) is in their language; what a delivery or an
endpoint records is a code with parameters (`webhooks.delivery_errors`), put into words when read."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from events import dispatch
from events.models import DeliveryStatus, EventDelivery, OutboxEvent, SubscriberKind
from events.types import event_type as registered_event_type
from integrations.services import problems
from merchants.models import Merchant
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import CardDataRejected, NotAllowed, ValidationFailed
from qiiub.http import ConnectorError
from qiiub.retry import WEBHOOK_DISABLE_AFTER_FAILING
from qiiub.vault import get_vault, new_vault_key
from webhooks import signing
from webhooks.alerts import send_webhook_disabled_alert
from webhooks.models import DisabledReason, WebhookEndpoint
from webhooks.sending import EndpointGone as EndpointGone  # imported from here by the webhooks connector
from webhooks.sending import WebhookAnswer, send_event
from webhooks.targets import check_target

logger = logging.getLogger(__name__)

ROTATION_OVERLAP = timedelta(hours=24)  # both secrets sign for this long after a rotation
TEST_EVENT_TYPE = "webhook.test"
TEST_PAYLOAD = {"message": "This is a test event from QIIUB."}
URL_MAX_CHARS = WebhookEndpoint._meta.get_field("url").max_length
DESCRIPTION_MAX_CHARS = WebhookEndpoint._meta.get_field("description").max_length


def _checked_fields(*, url: str, description: str, event_types: list[str]) -> dict:
    """The fields of a new or edited endpoint, or every field's error at once. A single refusal is
    raised as itself (its code says what: card data, a refused target), several as one."""
    refusals: list[ValidationFailed] = []
    for name, value in (("url", url), ("description", description)):
        try:
            ensure_no_card_data({name: value})
        except CardDataRejected as refused:
            refusals.append(refused)
    url_refused = any("url" in refusal.field_errors for refusal in refusals)
    if not url and not url_refused:
        refusals.append(ValidationFailed(_("Enter your endpoint's URL."),
                                         field_errors={"url": [_("Enter your endpoint's URL.")]}))
    elif len(url) > URL_MAX_CHARS and not url_refused:
        too_long = _("Use at most %(count)d characters.") % {"count": URL_MAX_CHARS}
        refusals.append(ValidationFailed(too_long, field_errors={"url": [too_long]}))
    elif not url_refused:
        try:
            check_target(url)
        except ValidationFailed as refused:
            refusals.append(refused)
    if len(description) > DESCRIPTION_MAX_CHARS:
        too_long = _("Use at most %(count)d characters.") % {"count": DESCRIPTION_MAX_CHARS}
        refusals.append(ValidationFailed(too_long, field_errors={"description": [too_long]}))
    if not event_types:
        refusals.append(ValidationFailed(_("Choose at least one event type."),
                                         field_errors={"event_types": [_("Choose at least one.")]}))
    for code in event_types:
        try:
            registered_event_type(code)
        except ValidationFailed as refused:
            refusals.append(ValidationFailed(refused.message, field_errors={"event_types": [refused.message]},
                                             code=refused.code))
    if len(refusals) == 1:
        raise refusals[0]
    if refusals:
        field_errors: dict[str, list[str]] = {}
        for refusal in refusals:
            for name, messages in refusal.field_errors.items():
                field_errors.setdefault(name, []).extend(messages)
        raise ValidationFailed(_("Correct the fields marked below."), field_errors=field_errors)
    return {"url": url, "description": description, "event_types": sorted(set(event_types))}


def webhook_endpoint_create(
    *, merchant: Merchant, url: str, event_types: list[str], description: str = "", by=None
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it and its signing secret, which is never shown again."""
    fields = _checked_fields(url=url, description=description, event_types=event_types)
    secret = signing.new_secret()
    vault_key = new_vault_key(f"whsec-{merchant.pk}")
    get_vault().put(vault_key, {"secret": secret})
    endpoint = WebhookEndpoint.objects.create(merchant=merchant, secret_vault_key=vault_key, **fields)
    logger.info("webhook.endpoint_created", extra={"endpoint_id": endpoint.pk, "merchant_id": merchant.pk})
    return endpoint, secret


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, url: str, event_types: list[str], description: str = "", by=None
) -> WebhookEndpoint:
    """Change an endpoint's URL, description and event types, checked as at creation."""
    fields = _checked_fields(url=url, description=description, event_types=event_types)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**fields)
    logger.info("webhook.endpoint_updated", extra={"endpoint_id": endpoint.pk, "by": getattr(by, "pk", None)})
    endpoint.refresh_from_db()
    return endpoint


def pending_delivery_count(endpoint: WebhookEndpoint) -> int:
    """Deliveries still to be sent (or retried) to the endpoint: what deleting it drops."""
    return endpoint.deliveries.filter(status=DeliveryStatus.PENDING).count()


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, by=None) -> int:
    """Delete an endpoint with its delivery log and secrets; returns how many pending deliveries
    were dropped."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        dropped = pending_delivery_count(endpoint)
        vault_keys = [key for key in (endpoint.secret_vault_key, endpoint.previous_secret_vault_key) if key]
        # Test events exist for this endpoint alone; its other deliveries go with it (cascade).
        OutboxEvent.objects.filter(event_type=TEST_EVENT_TYPE, deliveries__webhook_endpoint=endpoint).delete()
        endpoint.delete()
        transaction.on_commit(lambda: [get_vault().delete(key) for key in vault_keys], robust=True)
    logger.info("webhook.endpoint_deleted", extra={"endpoint_id": endpoint.pk, "dropped": dropped,
                                                   "by": getattr(by, "pk", None)})
    return dropped


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, by=None) -> str:
    """A new secret signs from now on; the old one keeps signing too for ROTATION_OVERLAP."""
    secret = signing.new_secret()
    vault_key = new_vault_key(f"whsec-{endpoint.merchant_id}")
    get_vault().put(vault_key, {"secret": secret})
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        expired_previous = endpoint.previous_secret_vault_key
        endpoint.previous_secret_vault_key = endpoint.secret_vault_key
        endpoint.previous_secret_expires_at = timezone.now() + ROTATION_OVERLAP
        endpoint.secret_vault_key = vault_key
        endpoint.save()
        if expired_previous:
            transaction.on_commit(lambda: get_vault().delete(expired_previous), robust=True)
    return secret


def record_endpoint_outcome(*, endpoint: WebhookEndpoint, succeeded: bool, gone: bool = False,
                            error: ConnectorError | None = None) -> None:
    """The one place an endpoint's delivery outcome is recorded (test sends are not outcomes): track
    how long it has been failing, and its open problem in the merchant's Issues inbox; disable it
    on 410 or after 5 days of failures. `endpoint` is the caller's fresh read: a success on an
    endpoint that was not failing writes nothing."""
    if succeeded:
        if endpoint.failing_since:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            problems.endpoint_success_clears(endpoint=endpoint)
        return
    with transaction.atomic():
        _record_endpoint_failure(endpoint, gone=gone)
        if error is not None:
            problems.endpoint_failure_seen(endpoint=endpoint, error=error)


def _record_endpoint_failure(endpoint: WebhookEndpoint, *, gone: bool) -> None:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    now = timezone.now()
    endpoint.failing_since = endpoint.failing_since or now
    reason = ""
    if gone:
        reason = DisabledReason.GONE
    elif now - endpoint.failing_since >= WEBHOOK_DISABLE_AFTER_FAILING:
        reason = DisabledReason.FAILING
    if reason and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        transaction.on_commit(lambda: send_webhook_disabled_alert(endpoint_id=endpoint.pk), robust=True)
        logger.warning("webhook.endpoint_disabled", extra={"endpoint_id": endpoint.pk, "reason": reason})
    endpoint.save(update_fields=["failing_since", "enabled", "disabled_reason"])


def webhook_endpoint_set_enabled(*, endpoint: WebhookEndpoint, enabled: bool, by=None) -> WebhookEndpoint:
    """Enable (clearing the failing clock) or disable an endpoint by hand."""
    endpoint.enabled = enabled
    endpoint.disabled_reason = "" if enabled else DisabledReason.MERCHANT
    endpoint.failing_since = None
    endpoint.save(update_fields=["enabled", "disabled_reason", "failing_since"])
    return endpoint


def subscriber_key(endpoint: WebhookEndpoint) -> str:
    """The endpoint as the receiver of its deliveries (one per event)."""
    return f"webhook:{endpoint.pk}"


def endpoint_delivery(*, event: OutboxEvent, endpoint: WebhookEndpoint, max_attempts: int) -> EventDelivery:
    """An (unsaved) delivery of an event to an endpoint."""
    return EventDelivery(
        event=event, merchant_id=event.merchant_id, subscriber_kind=SubscriberKind.WEBHOOK,
        subscriber_key=subscriber_key(endpoint), webhook_endpoint=endpoint, max_attempts=max_attempts,
    )


def is_test_delivery(delivery: EventDelivery) -> bool:
    return delivery.event.event_type == TEST_EVENT_TYPE


def test_event_send(*, endpoint: WebhookEndpoint) -> WebhookAnswer:
    """Send a signed test event now, unrecorded (the webhooks integration's connection test);
    raises the typed error a delivery would."""
    return send_event(
        endpoint=endpoint, event_id=f"test_{uuid.uuid4().hex}", event_type=TEST_EVENT_TYPE,
        payload=TEST_PAYLOAD, occurred_at=timezone.now(),
    )


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint, by=None) -> EventDelivery:
    """Send a signed test event now, through the dispatcher, so the delivery log records it (marked
    as a test, one attempt, never an outcome of the endpoint); returns its delivery."""
    with transaction.atomic():
        # Already relayed: the relay's sweep leaves it alone, and this endpoint is its only receiver.
        event = OutboxEvent.objects.create(
            event_type=TEST_EVENT_TYPE, merchant_id=endpoint.merchant_id, payload=TEST_PAYLOAD,
            relayed_at=timezone.now(),
        )
        delivery = endpoint_delivery(event=event, endpoint=endpoint, max_attempts=1)
        delivery.save()
    dispatch.deliver(delivery_id=delivery.pk)
    logger.info("webhook.test_sent", extra={"endpoint_id": endpoint.pk, "delivery_id": delivery.pk})
    delivery.refresh_from_db()
    return delivery


def webhook_delivery_resend(*, delivery: EventDelivery, by=None) -> EventDelivery:
    """Send one delivery again now, whatever its state, as one more attempt. A pending delivery
    keeps its schedule if this try fails; any other ends again if it fails."""
    endpoint = delivery.webhook_endpoint
    if not endpoint.enabled and not is_test_delivery(delivery):
        raise NotAllowed(_("Enable the endpoint first: a disabled endpoint receives nothing."),
                         code="endpoint_disabled")
    with transaction.atomic():
        delivery = EventDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.leased_until and delivery.leased_until > timezone.now():
            raise NotAllowed(_("This delivery is being sent right now: look again in a moment."),
                             code="delivery_in_flight")
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = None
        delivery.max_attempts = max(delivery.max_attempts, delivery.attempts + 1)
        delivery.save(update_fields=["status", "next_attempt_at", "max_attempts", "updated_at"])
    dispatch.deliver(delivery_id=delivery.pk)
    logger.info("webhook.delivery_resent", extra={"delivery_id": delivery.pk, "by": getattr(by, "pk", None)})
    delivery.refresh_from_db()
    return delivery
