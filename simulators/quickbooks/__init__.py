"""A local fake of the QuickBooks Online accounting API and Intuit's OAuth 2 server, for the tests and `make run`.

It answers as Intuit documents and as real captures show: auto-approved
consent, a Basic-auth token endpoint whose refresh tokens rotate, realm-bound bearer tokens, `minorversion` ≥ 75,
`requestid` idempotency, QBO `Fault` bodies (including a Fault inside an HTTP 200) and 500 requests/min per realm.
Tests steer it through `POST /_control` and read what was posted from `GET /_state` or `server.state`.
`state` holds its memory, `handler` the routes and the accounting gate, `transactions` the create endpoints,
`replies` QBO's formats.
Standard library only.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.base import serve
from simulators.quickbooks.handler import QuickBooksHandler
from simulators.quickbooks.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, QuickBooksState

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "QBO_BASE_URL", 8766, "QuickBooks"

__all__ = ["NAME", "PORT", "SERVES", "make_server"]


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> ThreadingHTTPServer:
    return serve(QuickBooksHandler, QuickBooksState(client_id, client_secret), host, port)
