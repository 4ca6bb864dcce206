"""No email carries a secret, a token or a card number, whatever its inputs carried: each kind is
sent through its real sender with a planted credential, URL token and card number where an input
could hold one, and every part the provider would get is searched."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from integrations.models import MerchantIntegration
from integrations.services import problems
from integrations.services.alerts import partner_digests_send, send_auto_pause_alert, send_review_alert
from partners.models import Partner
from partners.services.outreach import store_admins_remind
from qiiub.card_guard import find_card_data
from qiiub.http import VendorUnavailable
from taxes.filings import filing_prepare, reminders_send
from taxes.models import IvuFiling
from tests.factories import active_acumatica
from webhooks.alerts import send_webhook_disabled_alert
from webhooks.models import DisabledReason, WebhookEndpoint
from webhooks.services import webhook_endpoint_create

pytestmark = pytest.mark.security

PAN = "4111 1111 1111 1111"
CREDENTIAL = "tok-planted-credential-7f3a"
URL_TOKEN = "planted-url-token-9c2e"
URL_PASSWORD = "planted-url-password-5d1b"
KINDS = {"integration_paused", "integration_review", "partner_digest", "ivu_return_ready", "ivu_return_reminder",
         "store_reminder", "webhook_disabled"}


def test_no_email_of_any_kind_carries_a_secret_a_token_or_a_card_number(
        personas, acumatica_fake, anymail_outbox, django_capture_on_commit_callbacks):
    # given an integration whose credential is planted and whose vendor's error quotes a card number
    integration = active_acumatica(personas.san_juan, by=None, token=CREDENTIAL)
    problems.failure_seen(integration=integration,
                          error=VendorUnavailable(f"The vendor refused card {PAN} for this store."))
    MerchantIntegration.objects.filter(pk=integration.pk).update(status="error", consecutive_error_count=10,
                                                                 needs_review=True)
    # and a webhook endpoint whose URL carries a password and a token
    endpoint, _secret = webhook_endpoint_create(
        merchant=personas.san_juan, url=f"https://hook:{URL_PASSWORD}@127.0.0.1:8443/in?token={URL_TOKEN}#{URL_TOKEN}",
        event_types=["sale.completed"])
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason=DisabledReason.GONE)
    Partner.objects.update(last_digest_on=None)

    # when every kind is sent
    send_auto_pause_alert(integration_id=integration.pk)
    send_review_alert(integration_id=integration.pk)
    assert partner_digests_send(today=date(2026, 11, 25)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        filing = filing_prepare(merchant=personas.san_juan, period=date(2026, 10, 1))
        IvuFiling.objects.filter(pk=filing.pk).update(problems=f"A sale's note reads {PAN}.")
        assert reminders_send(now=datetime(2026, 11, 17, 12, tzinfo=UTC)) == 1
    store_admins_remind(partner=personas.partner, topic="reconnect", by=personas.partner_admin)
    send_webhook_disabled_alert(endpoint_id=endpoint.pk)

    # then none of what the provider got holds the planted values
    assert {message.anymail_test_params["tags"][0] for message in anymail_outbox} == KINDS
    for message in anymail_outbox:
        sent = message.anymail_test_params
        for part in (sent["subject"], sent["text_body"], sent["html_body"]):
            assert find_card_data({"part": part}) is None
            for planted in (CREDENTIAL, URL_TOKEN, URL_PASSWORD, "pw-" + CREDENTIAL, "4111111111111111"):
                assert planted not in part
    # the card number shows masked where the vendor's words are quoted; the endpoint by its host and path
    paused = next(message for message in anymail_outbox if message.anymail_test_params["tags"] == ["integration_paused"])
    assert "411111XXXXXX1111" in paused.body.replace(" ", "")
    disabled = next(message for message in anymail_outbox if message.anymail_test_params["tags"] == ["webhook_disabled"])
    assert "https://127.0.0.1:8443/in " in disabled.body


def test_html_parts_escape_what_a_merchant_named_and_hold_no_script_style_or_remote_image(
        personas, acumatica_fake, anymail_outbox):
    # given a store whose name is markup
    from merchants.models import Merchant

    Merchant.objects.filter(pk=personas.colmado.pk).update(name='<script>alert("x")</script><img src="https://x">')
    integration = active_acumatica(personas.colmado, by=None, token="tok-markup")

    send_auto_pause_alert(integration_id=integration.pk)

    [message] = anymail_outbox
    html = message.anymail_test_params["html_body"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img" in html
    assert "<script" not in html and "<img" not in html and "style" not in html
    assert '<script>alert("x")</script>' in message.body  # the plain-text part is not HTML: written as is
