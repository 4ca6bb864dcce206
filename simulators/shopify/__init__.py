"""A local fake of the Shopify Admin API (inventory), for the tests and `make run`.

One server stands for many shops: the shop is named by a path prefix (`/{shop}.myshopify.com/admin/api/{v}/…`,
which tests can use) or, without one, by the `Host` header, as on real Shopify. It answers as Shopify documents:
`X-Shopify-Access-Token` tokens bound to their shop on first use, dated API versions that fall forward to the
oldest supported one (`X-Shopify-API-Version` says which was served), the REST leaky bucket per shop with
`X-Shopify-Shop-Api-Call-Limit` and 429 + `Retry-After: 2.0`, locations, inventory items, `inventory_levels/set`
and `/adjust`, and one GraphQL lookup (product variants by SKU) with its own points bucket and THROTTLED answers.
Tests steer it through `POST /_control` and read what was written from `GET /_state` or `server.state`.
`state` holds its memory, `handler` the REST routes, `graphql` the lookup, `replies` Shopify's error bodies.
Standard library only.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.base import serve
from simulators.shopify.handler import ShopifyHandler
from simulators.shopify.state import ShopifyState

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "SHOPIFY_BASE_URL", 8769, "Shopify"

__all__ = ["NAME", "PORT", "SERVES", "make_server"]


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve(ShopifyHandler, ShopifyState(), host, port)
