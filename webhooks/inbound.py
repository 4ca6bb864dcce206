"""Receiving vendor webhooks: verify (connector), guard, store raw once, process on a worker."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.connectors.registry import connector_class_for_definition, connector_for
from integrations.models import RECEIVING_STATUSES, MerchantIntegration, Status
from qiiub.card_guard import ensure_no_card_data, json_loads_checkable
from qiiub.errors import NotFound, ValidationFailed
from qiiub.vault import read_secret
from webhooks.models import InboundStatus, InboundWebhook

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


def inbound_receive(*, integration_id: int, headers, body: bytes) -> tuple[InboundWebhook, bool]:
    """Verify and store a pushed webhook; returns (row, created). A repeat of the same vendor
    webhook id returns the stored row and changes nothing."""
    integration = (
        MerchantIntegration.objects.filter(pk=integration_id, status__in=RECEIVING_STATUSES).first()
    )
    if integration is None or not integration.credentials_vault_key:
        raise NotFound("No integration receives webhooks here.")
    connector = connector_class_for_definition(integration.definition_id)
    meta = connector.verify_inbound(
        headers=headers, body=body, credentials=read_secret(integration.credentials_vault_key)
    )
    # The vendor's webhook id and topic come in headers no signature covers, and both are stored.
    ensure_no_card_data({"webhook_id": meta.webhook_id, "topic": meta.topic}, "headers")
    try:
        payload = json_loads_checkable(body)
    except ValueError:
        raise ValidationFailed("The body is not JSON, or an object in it repeats a key.", code="invalid_json") from None
    ensure_no_card_data(payload, "body")
    existing = InboundWebhook.objects.filter(merchant_integration=integration, vendor_webhook_id=meta.webhook_id).first()
    if existing:
        return existing, False
    try:
        with transaction.atomic():
            row = InboundWebhook.objects.create(
                merchant_integration=integration, vendor_webhook_id=meta.webhook_id, topic=meta.topic,
                body=body.decode(),
            )
            transaction.on_commit(lambda: _enqueue(row.pk), robust=True)
    except IntegrityError:  # the same webhook arrived twice at once
        return InboundWebhook.objects.get(merchant_integration=integration, vendor_webhook_id=meta.webhook_id), False
    logger.info("webhook.inbound_received", extra={"inbound_id": row.pk, "topic": meta.topic})
    return row, True


def _enqueue(inbound_id: int) -> None:
    from webhooks.tasks import process_inbound_webhook

    process_inbound_webhook.delay(inbound_id)


def inbound_process(*, inbound_id: int) -> str | None:
    """Apply a stored webhook once: the row is locked and marked processed in the same transaction."""
    with transaction.atomic():
        row = (
            InboundWebhook.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("merchant_integration__merchant")
            .filter(pk=inbound_id, status=InboundStatus.RECEIVED)
            .first()
        )
        if row is None or row.merchant_integration.status != Status.ACTIVE:
            return None
        integration = row.merchant_integration
        connector_for(integration).process_inbound(
            merchant=integration.merchant, topic=row.topic, payload=json.loads(row.body)
        )
        row.status = InboundStatus.PROCESSED
        row.processed_at = timezone.now()
        row.save(update_fields=["status", "processed_at"])
        return row.status


def inbound_sweep() -> None:
    """Process webhooks stored while their integration was paused, or whose enqueue was lost; runs
    with the event bus's sweep, after the grace an inbound webhook's own enqueue has."""
    received_before = timezone.now() - timedelta(seconds=settings.EVENT_SWEEP_GRACE_S)
    for inbound_id in InboundWebhook.objects.filter(
        status=InboundStatus.RECEIVED, merchant_integration__status=Status.ACTIVE, received_at__lt=received_before
    ).values_list("pk", flat=True)[:SWEEP_BATCH]:
        _enqueue(inbound_id)
