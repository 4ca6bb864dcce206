"""A local fake of Acumatica's contract-based REST API, for the tests and `make run`.

One server stands for many Acumatica instances: the tenant (company) named at login picks the instance's data.
It answers as Acumatica documents: cookie sessions from `/entity/auth/login` (any name/password is accepted on
first use and then remembered), a per-tenant cap on signed-in API users (2, as a trial license) answered with 429,
10-minute idle expiry, `/entity/Default/{version}/StockItem` with the `LastModified gt datetimeoffset'…'` delta
filter, `$top`/`$skip` paging, `{"value": …}`-wrapped fields and `{"message","exceptionMessage","exceptionType"}`
error bodies. Tests steer it through `POST /_control` and read what was asked from `GET /_state` or `server.state`.
`state` holds its memory, `catalog` the stock items, `handler` the routes.
Standard library only.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.acumatica.handler import AcumaticaHandler
from simulators.acumatica.state import AcumaticaState
from simulators.base import serve

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "ACUMATICA_BASE_URL", 8768, "Acumatica"

__all__ = ["NAME", "PORT", "SERVES", "make_server"]


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve(AcumaticaHandler, AcumaticaState(), host, port)
