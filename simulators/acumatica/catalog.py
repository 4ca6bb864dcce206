"""Stock items as the Acumatica fake keeps and shows them: the default catalog of every tenant, items a test lists
through `/_control`, `{"value": …}`-wrapped records and millisecond `LastModified` times."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ITEM_STATUSES = ("Active", "Inactive", "No Sales", "No Purchases", "No Request", "Marked for Deletion")
DEFAULT_CATALOG = (  # (Description, DefaultPrice, QtyOnHand) of SKU-001 … SKU-012
    ("Acetaminophen 500 mg tablets, 100 ct", 8.99, 24.0),
    ("Ibuprofen 200 mg tablets, 50 ct", 6.49, 30.0),
    ("Loratadine 10 mg tablets, 30 ct", 12.99, 12.0),
    ("Vitamin C 1000 mg tablets, 60 ct", 9.75, 18.0),
    ("Adhesive bandages, assorted, 30 ct", 4.25, 40.0),
    ("Hand sanitizer 8 oz", 3.5, 36.0),
    ("Digital thermometer", 14.99, 6.0),
    ("Saline nasal spray 1.5 oz", 5.79, 15.0),
    ("Cough syrup DM 4 oz", 7.89, 10.0),
    ("Antacid chewable tablets, 96 ct", 6.99, 20.0),
    ("Sunscreen SPF 50, 3 oz", 11.49, 8.0),
    ("Reading glasses +1.50", 15.0, 4.0),
)
DEFAULT_SKUS = frozenset(f"SKU-{index + 1:03d}" for index in range(len(DEFAULT_CATALOG)))


@dataclass
class Item:
    inventory_id: str
    id: str
    description: str
    price: float
    status: str
    qty: float | None
    last_modified: datetime


def now_ms() -> datetime:
    """Now, to the millisecond: what Acumatica shows is what `gt` compares, so a seen value never matches again."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_time(value) -> datetime:
    """An ISO 8601 time with an offset (a naive one is taken as UTC), to the millisecond; else ValueError."""
    if not isinstance(value, str):
        raise ValueError("a time must be an ISO 8601 string")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def item_id(tenant: str, inventory_id: str) -> str:
    """A stable record id: the same tenant and SKU keep one id across catalog replacements."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"acumatica-simulator/{tenant}/{inventory_id}"))


def default_catalog(tenant: str) -> dict[str, Item]:
    """SKU-001 … SKU-012, last modified 47 h to 3 h ago, 4 h apart."""
    start = now_ms() - timedelta(hours=47)
    catalog = {}
    for index, (description, price, qty) in enumerate(DEFAULT_CATALOG):
        sku = f"SKU-{index + 1:03d}"
        stamp = start + timedelta(hours=4 * index)
        catalog[sku] = Item(sku, item_id(tenant, sku), description, price, "Active", qty, stamp)
    return catalog


def wrapped(item: Item, row: int) -> dict:
    record = {
        "id": item.id,
        "rowNumber": row,
        "note": {"value": ""},
        "InventoryID": {"value": item.inventory_id},
        "Description": {"value": item.description},
        "DefaultPrice": {"value": item.price},
        "ItemStatus": {"value": item.status},
    }
    if item.qty is not None:
        record["QtyOnHand"] = {"value": item.qty}
    record["LastModified"] = {"value": wire_time(item.last_modified)}
    record["custom"] = {}
    return record


def control_item(tenant: str, raw) -> Item:
    """One entry of a `/_control` `items` list; ValueError when it is malformed."""
    if not isinstance(raw, dict):
        raise ValueError("each item must be an object")
    sku = raw.get("InventoryID")
    if not isinstance(sku, str) or not sku.strip():
        raise ValueError("each item needs an InventoryID string")
    description, price = raw.get("Description", ""), raw.get("DefaultPrice", 0.0)
    status, qty = raw.get("ItemStatus", "Active"), raw.get("QtyOnHand")
    if not isinstance(description, str):
        raise ValueError(f"{sku}: Description must be a string")
    if not is_number(price) or price < 0:
        raise ValueError(f"{sku}: DefaultPrice must be a number ≥ 0")
    if status not in ITEM_STATUSES:
        raise ValueError(f"{sku}: ItemStatus must be one of {', '.join(ITEM_STATUSES)}")
    if qty is not None and not is_number(qty):
        raise ValueError(f"{sku}: QtyOnHand must be a number or null")
    try:
        stamp = parse_time(raw["LastModified"]) if "LastModified" in raw else now_ms()
    except ValueError:
        raise ValueError(f"{sku}: LastModified must be an ISO 8601 time") from None
    return Item(
        sku, item_id(tenant, sku), description, float(price), status, None if qty is None else float(qty), stamp
    )
