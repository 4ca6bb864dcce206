"""What can go wrong sending to a merchant's own endpoint, kept as a code and its parameters and put
into words only when read, in the reader's language. The English source of each lives here once.

The endpoint is the merchant's own server: every text says what their endpoint did (or what stood
between us and it), never that a vendor is down."""

from __future__ import annotations

from django.utils.translation import gettext, gettext_noop

# A send that failed, or a URL refused before sending.
ATTEMPT_ERRORS: dict[str, str] = {
    "http_status": gettext_noop("The endpoint answered %(status)s."),
    "http_redirect": gettext_noop("The endpoint answered %(status)s, a redirect: webhooks do not follow "
                                  "redirects, so enter the final URL."),
    "gone": gettext_noop("The endpoint answered 410 Gone, which asks senders to stop."),
    "timeout": gettext_noop("The endpoint did not answer within %(seconds)s s."),
    "tls_error": gettext_noop("The secure (TLS) connection to the endpoint failed: %(reason)s"),
    "connection_error": gettext_noop("The endpoint could not be reached: %(reason)s"),
    "https_required": gettext_noop("Webhook URLs must use https://."),
    "no_host": gettext_noop("The webhook URL has no host."),
    "unresolvable": gettext_noop("The host '%(host)s' cannot be resolved."),
    "private_address": gettext_noop("The host '%(host)s' resolves to a private or local address (%(address)s); "
                                     "webhooks go only to public addresses."),
}

# Why an endpoint stopped receiving (WebhookEndpoint.disabled_reason).
DISABLED_REASONS: dict[str, str] = {
    "gone": gettext_noop("The endpoint answered 410 Gone, which asks senders to stop."),
    "failing": gettext_noop("Every delivery to it failed for 5 days."),
    "merchant": gettext_noop("It was disabled from this page."),
}


def disabled_reason_text(code: str) -> str:
    return gettext(DISABLED_REASONS[code]) if code in DISABLED_REASONS else code
