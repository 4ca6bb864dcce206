"""Where a webhook may be sent: https only, and outside development never to a private,
loopback, link-local or otherwise non-public address, checked on the addresses DNS returns (at
creation and again before every send, so a name re-pointed later is caught)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from qiiub.errors import ValidationFailed


class TargetRefused(ValidationFailed):
    code = "webhook_target_refused"

    def __init__(self, message: str):
        super().__init__(message, field_errors={"url": [message]})


def _not_public(address: ipaddress._BaseAddress) -> bool:
    return (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


def check_target(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise TargetRefused(_("Webhook URLs must use https://."))
    if not parts.hostname:
        raise TargetRefused(_("The webhook URL has no host."))
    try:
        port = parts.port or 443
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, ValueError):
        raise TargetRefused(_("The host '%(host)s' cannot be resolved.") % {"host": parts.hostname}) from None
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if _not_public(address):
            raise TargetRefused(
                _("The host '%(host)s' resolves to a private or local address (%(address)s); "
                  "webhooks go only to public addresses.") % {"host": parts.hostname, "address": address}
            )
