"""A local fake of Xero's identity server (OAuth 2), its Connections API and the Accounting API, for the tests and
`make run`.

It answers as Xero documents and as real captures show: auto-approved consent that connects one organisation, a
Basic-auth token endpoint whose refresh tokens rotate with a 30-minute grace for the one just replaced, JWT-shaped
30-minute access tokens, `xero-tenant-id` on every Accounting call, Xero's problem bodies (401 `TokenExpired`,
403 `AuthorizationUnsuccessful`), `ValidationException` bodies, `Idempotency-Key` replays and the per-tenant
(60/min, 5,000/day, 5 concurrent) and per-app (10,000/min) rate limits with their headers.
Tests steer it through `POST /_control` and read what was posted from `GET /_state` or `server.state`.
`identity` holds organisations, grants and tokens, `limits` the rate limits, `state` the rest of its memory,
`handler` the routes and the gate of every Accounting call, `accounting` the resources, `wire` Xero's formats.
Standard library only.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.base import serve
from simulators.xero.handler import XeroHandler
from simulators.xero.identity import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from simulators.xero.state import XeroState

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "XERO_BASE_URL", 8767, "Xero"

__all__ = ["NAME", "PORT", "SERVES", "make_server"]


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> ThreadingHTTPServer:
    return serve(XeroHandler, XeroState(client_id, client_secret), host, port)
