"""Catalog changes for a terminal (`GET /api/pos/v1/catalog?since=…`): the merchant's products
changed since a cursor, a page at a time, each with its on-hand quantity at the terminal's location.
A product changes when it does or when its level there does (a sale, a count, a transfer), so the
terminal's stock figures follow the other registers'."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

from django.db.models import F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django_tenants.utils import schema_context

from merchants.models import Location
from merchants.store.models import Product, StockLevel
from qiiub.errors import ValidationFailed

PAGE_SIZE = 500
# A change is served once it is this old: a transaction that commits late with an earlier
# updated_at still lands after the cursor instead of being skipped.
SETTLE = timedelta(seconds=5)
# "<microseconds since 1970 of the last product's updated_at>.<its id>", or empty for the start.
# Every text this pattern accepts is a cursor (16 digits reach the year 2286, 18 fit a bigint), so
# the OpenAPI document can say exactly what `since` takes. Checked with `re.search`, as JSON Schema
# validators read a pattern.
CURSOR_PATTERN = r"^([0-9]{1,16}\.[0-9]{1,18})?$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _cursor(updated_at: datetime, pk: int) -> str:
    return f"{(updated_at - _EPOCH) // _MICROSECOND}.{pk}"


def _legacy(cursor: str) -> tuple[datetime, int] | None:
    """A cursor of the earlier format (base64 of "<ISO time>|<id>") that a terminal may still hold:
    read, so it carries on where it was instead of starting over. No longer documented or issued."""
    try:
        moment, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(moment), int(pk)
    except (ValueError, UnicodeDecodeError):
        return None


def _parsed(cursor: str) -> tuple[datetime, int] | None:
    if not re.search(CURSOR_PATTERN, cursor):
        if legacy := _legacy(cursor):
            return legacy
        raise ValidationFailed("The catalog cursor is not valid: send the `next` value of the previous page, "
                               "or no `since` to start over.", field_errors={"since": ["Not a valid cursor."]})
    if not cursor.strip():
        return None
    microseconds, pk = cursor.split(".")
    return _EPOCH + int(microseconds) * _MICROSECOND, int(pk)


def changes_since(*, location: Location, cursor: str) -> dict:
    after = _parsed(cursor)
    with schema_context(location.merchant.schema_name):
        stock = StockLevel.objects.filter(product=OuterRef("pk"), location_code=location.code)
        products = Product.objects.annotate(
            on_hand=Subquery(stock.values("on_hand")[:1]),
            changed_at=Greatest("updated_at", Coalesce(Subquery(stock.values("updated_at")[:1]), "updated_at")),
        ).filter(changed_at__lte=timezone.now() - SETTLE)
        if after is not None:
            moment, pk = after
            products = products.filter(Q(changed_at__gt=moment) | Q(changed_at=moment, pk__gt=pk))
        page = list(products.order_by(F("changed_at"), "pk")[: PAGE_SIZE + 1])
    more, page = len(page) > PAGE_SIZE, page[:PAGE_SIZE]
    return {
        "products": [
            {"sku": product.sku, "name": product.name, "barcode": product.barcode, "price": str(product.price),
             "tax_category": product.tax_category, "on_hand": product.on_hand}
            for product in page
        ],
        "next": _cursor(page[-1].changed_at, page[-1].pk) if page else (_cursor(*after) if after else ""),
        "more": more,
    }
