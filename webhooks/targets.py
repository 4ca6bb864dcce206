"""Where a webhook may be sent: https only, and outside development never to a private,
loopback, link-local or otherwise non-public address, checked on the addresses DNS returns (at
creation and again before every send, so a name re-pointed later is caught)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from qiiub.errors import ValidationFailed
from qiiub.messages import message_text


class TargetRefused(ValidationFailed):
    """`reason` and `params` say why, so a send that is refused is recorded as a code."""

    code = "webhook_target_refused"

    def __init__(self, reason: str, **params):
        message = message_text(reason, params)
        super().__init__(message, field_errors={"url": [message]})
        self.reason, self.params = reason, params


def _not_public(address: ipaddress._BaseAddress) -> bool:
    return (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


def check_target(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise TargetRefused("https_required")
    if not parts.hostname:
        raise TargetRefused("no_host")
    try:
        port = parts.port or 443
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, ValueError):
        raise TargetRefused("unresolvable", host=parts.hostname) from None
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if _not_public(address):
            raise TargetRefused("private_address", host=parts.hostname, address=str(address))
