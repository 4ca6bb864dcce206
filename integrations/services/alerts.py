"""Alert emails about merchant integrations, sent after the change that caused them commits."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail

from merchants.models import Role

logger = logging.getLogger(__name__)


def merchant_admin_emails(merchant_id: int) -> list[str]:
    users = get_user_model().objects.filter(
        is_active=True, memberships__role=Role.MERCHANT_ADMIN, memberships__merchant_id=merchant_id
    )
    return sorted({user.email for user in users if user.email})


def send_auto_pause_alert(*, integration_id: int) -> None:
    from integrations.models import MerchantIntegration

    integration = MerchantIntegration.objects.select_related("merchant", "definition", "location").get(
        pk=integration_id
    )
    recipients = merchant_admin_emails(integration.merchant_id)
    if not recipients:
        logger.warning("integration.alert_no_recipients", extra={"integration_id": integration_id})
        return
    subject = f"{integration.definition.name} was paused after repeated failures"
    body = (
        f"{integration.definition.name} for {integration.merchant.name} failed "
        f"{integration.consecutive_error_count} times in a row and was paused so nothing is lost.\n\n"
        f"Last error: {integration.last_error}\n\n"
        "To fix it: open the integration in the QIIUB portal, correct the credentials or settings, "
        "test the connection, then resume. Syncing continues from where it stopped."
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    logger.info("integration.alert_sent", extra={"integration_id": integration_id, "kind": "auto_pause"})


def send_webhook_disabled_alert(*, endpoint_id: int) -> None:
    from integrations.webhooks.models import WebhookEndpoint

    endpoint = WebhookEndpoint.objects.select_related("merchant").get(pk=endpoint_id)
    recipients = merchant_admin_emails(endpoint.merchant_id)
    if not recipients:
        return
    send_mail(
        "A webhook endpoint was disabled",
        f"The webhook endpoint {endpoint.url} of {endpoint.merchant.name} was disabled: {endpoint.disabled_reason}\n\n"
        "Fix the receiver, enable the endpoint again in the QIIUB portal, and retry the failed deliveries.",
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
