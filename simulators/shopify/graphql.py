"""The one GraphQL lookup the Shopify fake answers (product variants by SKU), with its own points bucket: a query
costs 2 points, and an empty bucket answers THROTTLED in an HTTP 200, as Shopify does."""

from __future__ import annotations

import math
import re

from simulators.base import Reply, json_reply
from simulators.shopify.replies import missing
from simulators.shopify.state import Shop, ShopifyState

GRAPHQL_COST = 2  # what the one supported lookup costs
ITEM_GID = "gid://shopify/InventoryItem/"
SKU_TERM = re.compile(r'sku:(?:"([^"]+)"|(\S+))')


def variants_by_sku(state: ShopifyState, shop: Shop, body: dict) -> Reply:
    """Answers only `productVariants(query: $query)` with `$query` = `sku:X [OR sku:Y …]`; call with the lock held."""
    query, variables = body.get("query"), body.get("variables")
    if not isinstance(query, str) or not query.strip():
        raise missing("query")
    search = variables.get("query") if isinstance(variables, dict) else None
    terms = search.split(" OR ") if isinstance(search, str) else []
    matches = [SKU_TERM.fullmatch(term.strip()) for term in terms]
    if "productVariants" not in query or not matches or not all(matches):
        message = "The simulator answers only productVariants with variables.query 'sku:X' or 'sku:X OR sku:Y'"
        return json_reply(200, {"errors": [{"message": message, "extensions": {"code": "UNSUPPORTED"}}]})
    _, _, rate, maximum = state.limits
    available = state.restore(shop)
    throttled = available < GRAPHQL_COST
    if throttled:
        state.throttled += 1
    else:
        shop.points = available = available - GRAPHQL_COST
    cost = {
        "requestedQueryCost": GRAPHQL_COST,
        "actualQueryCost": None if throttled else GRAPHQL_COST,
        "throttleStatus": {
            "maximumAvailable": float(maximum),
            "currentlyAvailable": math.floor(available),
            "restoreRate": float(rate),
        },
    }
    if throttled:
        error = {"message": "Throttled", "extensions": {"code": "THROTTLED"}}
        return json_reply(200, {"errors": [error], "extensions": {"cost": cost}})
    wanted = {(match.group(1) or match.group(2)).lower() for match in matches}  # Shopify search ignores case
    edges = [
        {"node": {"sku": item.sku, "inventoryItem": {"id": f"{ITEM_GID}{item.inventory_item_id}"}}}
        for item in shop.items.values()
        if item.sku.lower() in wanted
    ]
    return json_reply(200, {"data": {"productVariants": {"edges": edges}}, "extensions": {"cost": cost}})
