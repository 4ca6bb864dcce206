"""Merchant webhook endpoints: create (secret shown once), rotate, and send one event, signed.

What the merchant is answered (a refused URL, a test's outcome) is in their language; what a
delivery records (its error, the reason an endpoint was disabled) stays in English (ADR 0020)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from events.types import event_type as registered_event_type
from merchants.models import Merchant
from qiiub.card_guard import ensure_no_card_data, mask_card_numbers
from qiiub.errors import ValidationFailed
from qiiub.http import ConnectorError, VendorUnavailable, error_for_status, shared_session
from qiiub.retry import WEBHOOK_DISABLE_AFTER_FAILING
from qiiub.vault import get_vault, new_vault_key, read_secret
from webhooks import signing
from webhooks.alerts import send_webhook_disabled_alert
from webhooks.models import WebhookEndpoint
from webhooks.targets import check_target

logger = logging.getLogger(__name__)

ROTATION_OVERLAP = timedelta(hours=24)  # both secrets sign for this long after a rotation
EXCERPT_CHARS = 300


class EndpointGone(ConnectorError):
    code = "endpoint_gone"
    advice = "The receiver answered 410 Gone, so the endpoint was disabled."


@dataclass
class WebhookAnswer:
    status_code: int | None
    excerpt: str
    duration_ms: int


def webhook_endpoint_create(
    *, merchant: Merchant, url: str, event_types: list[str], description: str = "", by=None
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it and its signing secret, which is never shown again."""
    ensure_no_card_data({"url": url, "description": description})
    if not event_types:
        raise ValidationFailed(_("Choose at least one event type."),
                               field_errors={"event_types": [_("Choose at least one.")]})
    for code in event_types:
        registered_event_type(code)
    check_target(url)
    secret = signing.new_secret()
    vault_key = new_vault_key(f"whsec-{merchant.pk}")
    get_vault().put(vault_key, {"secret": secret})
    endpoint = WebhookEndpoint.objects.create(
        merchant=merchant, url=url, description=description, event_types=sorted(set(event_types)),
        secret_vault_key=vault_key,
    )
    logger.info("webhook.endpoint_created", extra={"endpoint_id": endpoint.pk, "merchant_id": merchant.pk})
    return endpoint, secret


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


def _signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    secrets_in_use = [read_secret(endpoint.secret_vault_key)["secret"]]
    if endpoint.previous_secret_vault_key and endpoint.previous_secret_expires_at > timezone.now():
        secrets_in_use.append(read_secret(endpoint.previous_secret_vault_key)["secret"])
    return secrets_in_use


def send_event(*, endpoint: WebhookEndpoint, event_id: str, event_type: str, payload: dict, occurred_at) -> WebhookAnswer:
    """POST one event, signed; a non-2xx answer raises a ConnectorError carrying the answer."""
    with translation.override("en"):  # a refusal here is recorded with the delivery
        check_target(endpoint.url)  # again at send time: DNS may point elsewhere now
    body = json.dumps(
        {"type": event_type, "timestamp": occurred_at.isoformat(), "data": payload}, separators=(",", ":")
    ).encode()
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature_header(
            _signing_secrets(endpoint), message_id=event_id, timestamp=timestamp, body=body
        ),
    }
    started = time.monotonic()
    try:
        response = shared_session().post(
            endpoint.url, data=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_S,
            allow_redirects=False, verify=settings.WEBHOOK_CA_BUNDLE,
        )
    except requests.Timeout as error:
        raise VendorUnavailable(f"The endpoint did not answer within {settings.WEBHOOK_TIMEOUT_S} s.") from error
    except requests.RequestException as error:
        raise VendorUnavailable("The endpoint could not be reached.") from error
    # The receiver's words are stored and shown: any card number in them is masked (before the cut).
    excerpt = mask_card_numbers(response.text[:EXCERPT_CHARS * 4])[:EXCERPT_CHARS]
    answer = WebhookAnswer(response.status_code, excerpt, int((time.monotonic() - started) * 1000))
    if 200 <= response.status_code < 300:
        return answer
    # Any other answer is a failure to retry: a receiver's 4xx or redirect may be fixed on its side.
    error: ConnectorError = (
        EndpointGone("The endpoint answered 410 Gone.") if response.status_code == 410
        else error_for_status(response, who="The endpoint")
        or VendorUnavailable(f"The endpoint answered {response.status_code}.")
    )
    error.answer = answer
    raise error


def record_endpoint_outcome(*, endpoint: WebhookEndpoint, succeeded: bool, gone: bool = False) -> None:
    """Track how long an endpoint has been failing; disable it on 410 or after 5 days of failures.
    `endpoint` is the caller's fresh read: a success on an endpoint that was not failing writes nothing."""
    if succeeded:
        if endpoint.failing_since:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return
    with transaction.atomic():
        _record_endpoint_failure(endpoint, gone=gone)


def _record_endpoint_failure(endpoint: WebhookEndpoint, *, gone: bool) -> None:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    now = timezone.now()
    endpoint.failing_since = endpoint.failing_since or now
    reason = ""
    if gone:
        reason = "The receiver answered 410 Gone."
    elif now - endpoint.failing_since >= WEBHOOK_DISABLE_AFTER_FAILING:
        reason = "Every delivery failed for 5 days."
    if reason and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        transaction.on_commit(lambda: send_webhook_disabled_alert(endpoint_id=endpoint.pk), robust=True)
        logger.warning("webhook.endpoint_disabled", extra={"endpoint_id": endpoint.pk, "reason": reason})
    endpoint.save(update_fields=["failing_since", "enabled", "disabled_reason"])


def webhook_endpoint_set_enabled(*, endpoint: WebhookEndpoint, enabled: bool, by=None) -> WebhookEndpoint:
    """Enable (clearing the failing clock) or disable an endpoint by hand."""
    endpoint.enabled = enabled
    endpoint.disabled_reason = "" if enabled else "Disabled by the merchant."
    endpoint.failing_since = None
    endpoint.save(update_fields=["enabled", "disabled_reason", "failing_since"])
    return endpoint


TEST_EVENT_TYPE = "webhook.test"


def test_event_send(*, endpoint: WebhookEndpoint) -> WebhookAnswer:
    """Send a signed test event now (the endpoint's Test button, the integration's connection test);
    raises the typed error a delivery would."""
    return send_event(
        endpoint=endpoint, event_id=f"test_{uuid.uuid4().hex}", event_type=TEST_EVENT_TYPE,
        payload={"message": "This is a test event from QIIUB."}, occurred_at=timezone.now(),
    )


def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint, by=None) -> tuple[WebhookAnswer | None, str]:
    """Send a signed test message now; returns the receiver's answer and a sentence about it."""
    try:
        answer = test_event_send(endpoint=endpoint)
    except ConnectorError as error:
        answer = getattr(error, "answer", None)
        return answer, _("The test failed: %(message)s") % {"message": error.message}
    return answer, _("The endpoint answered %(status)s in %(ms)s ms.") % {
        "status": answer.status_code, "ms": answer.duration_ms}
