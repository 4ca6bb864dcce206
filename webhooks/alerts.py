"""The alert a merchant's admins get when one of their webhook endpoints is disabled, in the
merchant's language, sent after the change commits."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.utils import translation
from django.utils.translation import gettext as _

from merchants.selectors import merchant_admin_emails
from webhooks.delivery_errors import disabled_reason_text
from webhooks.models import WebhookEndpoint


def send_webhook_disabled_alert(*, endpoint_id: int) -> None:
    endpoint = WebhookEndpoint.objects.select_related("merchant").get(pk=endpoint_id)
    recipients = merchant_admin_emails(endpoint.merchant_id)
    if not recipients:
        return
    with translation.override(endpoint.merchant.language):
        subject = _("A webhook endpoint was disabled")
        body = (_("The webhook endpoint %(url)s of %(merchant)s was disabled: %(reason)s")
                % {"url": endpoint.url, "merchant": endpoint.merchant.name, "reason": disabled_reason_text(endpoint.disabled_reason)}
                + "\n\n" + _("Fix the receiver, enable the endpoint again in the QIIUB portal, and retry the failed "
                              "deliveries."))
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
