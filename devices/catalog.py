"""Catalog changes for a terminal (`GET /api/pos/v1/catalog?since=…`): the merchant's products
changed since a cursor, a page at a time."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context

from merchants.models import Location
from merchants.store.models import Product
from qiiub.errors import ValidationFailed

PAGE_SIZE = 500
# A change is served once it is this old: a transaction that commits late with an earlier
# updated_at still lands after the cursor instead of being skipped.
SETTLE = timedelta(seconds=5)


def _cursor(updated_at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{updated_at.isoformat()}|{pk}".encode()).decode()


def _parsed(cursor: str) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        moment, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(moment), int(pk)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("The catalog cursor is not valid: send the `next` value of the previous page, "
                               "or no `since` to start over.", field_errors={"since": ["Not a valid cursor."]}) from None


def changes_since(*, location: Location, cursor: str) -> dict:
    after = _parsed(cursor)
    with schema_context(location.merchant.schema_name):
        products = Product.objects.filter(updated_at__lte=timezone.now() - SETTLE)
        if after is not None:
            moment, pk = after
            products = products.filter(Q(updated_at__gt=moment) | Q(updated_at=moment, pk__gt=pk))
        page = list(products.order_by("updated_at", "pk")[: PAGE_SIZE + 1])
    more, page = len(page) > PAGE_SIZE, page[:PAGE_SIZE]
    return {
        "products": [
            {"sku": product.sku, "name": product.name, "barcode": product.barcode, "price": str(product.price),
             "tax_category": product.tax_category}
            for product in page
        ],
        "next": _cursor(page[-1].updated_at, page[-1].pk) if page else cursor,
        "more": more,
    }
