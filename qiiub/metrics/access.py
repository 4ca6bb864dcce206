"""Who may read /metrics: a caller bearing the metrics token, or one from a configured network."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings

from qiiub.auth import client_address

# Headers a reverse proxy adds: a request carrying one came through a proxy, so its REMOTE_ADDR is
# the proxy's (often 127.0.0.1), not the caller's.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def metrics_access_allowed(request) -> bool:
    return _bears_token(request) or _from_allowed_network(request)


def _bears_token(request) -> bool:
    token = settings.METRICS_TOKEN
    presented = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(presented.encode(), f"Bearer {token}".encode())


def _from_allowed_network(request) -> bool:
    if settings.CLIENT_IP_META == "REMOTE_ADDR" and any(header in request.META for header in PROXY_HEADERS):
        return False  # relayed, and the proxy's address is not the caller's
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
