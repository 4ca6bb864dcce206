"""The alert a merchant's admins get when one of their webhook endpoints is disabled, in the
merchant's language, sent after the change commits (templates/email/webhook_disabled.*)."""

from __future__ import annotations

from django.utils.functional import lazy

from merchants.selectors import merchant_admin_emails
from qiiub.mail import email_send, url_without_credentials
from webhooks.delivery_errors import disabled_reason_text
from webhooks.models import WebhookEndpoint


def send_webhook_disabled_alert(*, endpoint_id: int) -> None:
    endpoint = WebhookEndpoint.objects.select_related("merchant").get(pk=endpoint_id)
    recipients = merchant_admin_emails(endpoint.merchant_id)
    if not recipients:
        return
    # The reason is put into words as the email renders, in the merchant's language.
    reason = lazy(lambda: disabled_reason_text(endpoint.disabled_reason), str)()
    email_send(kind="webhook_disabled", to=recipients, language=endpoint.merchant.language, context={
        "url": url_without_credentials(endpoint.url), "merchant": endpoint.merchant.name, "reason": reason})
