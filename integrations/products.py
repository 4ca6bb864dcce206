"""Writing the merchant's product catalog from a system of record (an ERP poll), with a
`product.updated` event for every product that really changed, in the same transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django_tenants.utils import schema_context

from events.publish import NewEvent, publish_many
from events.types import PRODUCT_UPDATED
from merchants.models import Merchant
from merchants.store.models import Product


@dataclass(frozen=True)
class ProductChange:
    sku: str
    name: str
    price: Decimal


def products_upsert(*, merchant: Merchant, changes: list[ProductChange]) -> int:
    """Create or update products by SKU in one statement; returns how many changed. A product
    whose name and price are already these is not touched (no event, no catalog churn)."""
    if not changes:
        return 0
    table = Product._meta.db_table
    rows = json.dumps([{"sku": change.sku, "name": change.name, "price": str(change.price)} for change in changes])
    with schema_context(merchant.schema_name), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} AS product (sku, name, barcode, price, tax_category, updated_at)
            SELECT incoming.sku, incoming.name, '', incoming.price, 'standard', now()
            FROM jsonb_to_recordset(%s::jsonb) AS incoming(sku text, name text, price numeric)
            ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price, updated_at = now()
            WHERE (product.name, product.price) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.price)
            RETURNING sku, name, price, tax_category
            """,
            [rows],
        )
        changed = cursor.fetchall()
        publish_many([
            NewEvent(PRODUCT_UPDATED.code, {"sku": sku, "name": name, "price": str(price), "tax_category": category},
                     merchant)
            for sku, name, price, category in changed
        ])
    return len(changed)
