"""Stock changes recorded at a register (`inventory` records, `devices/records.py`): a count sets the
location's level, receiving, shrink and adjustments move it by a signed quantity, and a transfer
moves stock out of the register's location into another of the merchant's. Every level a change
moves is an `inventory.changed` event carrying the level it left (what Shopify sets).

Changes apply in the order they happened (`occurred_at`, then upload order), each on the level the
one before left. The levels are locked first, so two uploads moving one level wait for each other,
and a record is known to be new only once its levels are locked: a retry racing its original is
seen stored, and applies nothing twice.
"""

from __future__ import annotations

from django.db import connection
from django.utils.translation import gettext as _

from devices.batches import Batch, Refusals, Written, insert_rows
from events.publish import NewEvent
from events.types import INVENTORY_CHANGED
from merchants.store.models import InventoryRecord, Product, StockChange, StockLevel

# A level stays within ± this: beyond it a change is a typo (and the column an integer).
MAX_LEVEL = 10_000_000

_RECORD = ("client_uuid", "location_code", "terminal_id", "change", "product_id", "quantity", "reason",
           "to_location_code", "occurred_at", "on_hand_after")


def _refusals(batch: Batch, records: list[dict], products: dict[str, int], locations: set[str]) -> Refusals:
    """What makes a record wrong for this merchant: a SKU not in its catalog, a location that is
    not the register's own, a transfer to a location it does not have."""
    refused: Refusals = {}
    for record in records:
        problems = {}
        if record["location"] != batch.location.code:
            problems["location"] = [_("This terminal records stock at %(own)s only, not at %(location)s.") % {
                "own": batch.location.code, "location": record["location"]}]
        if record["sku"] not in products:
            problems["sku"] = [_("No product with SKU %(sku)s in the catalog: add it to the catalog first.") % {
                "sku": record["sku"]}]
        if record["to_location"] and record["to_location"] not in locations:
            problems["to_location"] = [_("The merchant has no location %(location)s.") % {
                "location": record["to_location"]}]
        if problems:
            refused[record["client_uuid"]] = problems
    return refused


def _levels_locked(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], list]:
    """{(product id, location code): [stock row id, on hand]}, each row locked for this transaction;
    a level not tracked yet starts at 0."""
    product_ids, codes = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
    table = StockLevel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (product_id, location_code, on_hand, updated_at)
            SELECT product_id, location_code, 0, now() FROM unnest(%s::bigint[], %s::text[]) AS pair(product_id, location_code)
            ON CONFLICT (product_id, location_code) DO NOTHING
            """,
            [product_ids, codes],
        )
        cursor.execute(
            f"""
            SELECT stock.product_id, stock.location_code, stock.id, stock.on_hand FROM {table} AS stock
            JOIN unnest(%s::bigint[], %s::text[]) AS pair(product_id, location_code)
              ON stock.product_id = pair.product_id AND stock.location_code = pair.location_code
            ORDER BY stock.id FOR UPDATE OF stock
            """,
            [product_ids, codes],
        )
        return {(product_id, code): [row_id, on_hand] for product_id, code, row_id, on_hand in cursor.fetchall()}


def _applied(record: dict, levels: dict, product_id: int) -> tuple[int, int | None] | None:
    """The levels this change leaves (here, and at a transfer's destination), or None when it would
    take a level beyond ±MAX_LEVEL (then it changes nothing)."""
    here = levels[(product_id, record["location"])]
    if record["change"] == StockChange.COUNT:
        after, there = record["on_hand"], None
    elif record["change"] == StockChange.TRANSFER:
        after, there = here[1] - record["quantity"], levels[(product_id, record["to_location"])][1] + record["quantity"]
    else:
        after, there = here[1] + record["quantity"], None
    if any(level is not None and abs(level) > MAX_LEVEL for level in (after, there)):
        return None
    here[1] = after
    if there is not None:
        levels[(product_id, record["to_location"])][1] = there
    return after, there


def _event(batch: Batch, record: dict, location, on_hand: int, **extra) -> NewEvent:
    return NewEvent(INVENTORY_CHANGED.code, {
        "sku": record["sku"], "location": location.code, "on_hand": on_hand, "change": record["change"],
        "quantity": record.get("quantity", record.get("on_hand")), "reason": record["reason"],
        "record_id": record["client_uuid"], **extra,
    }, batch.merchant, location)


def inventory_store(batch: Batch, records: list[dict]) -> Written:
    """The `inventory` writer: refuse what does not fit the merchant, apply the new changes to the
    levels in the order they happened, store them, and return their events."""
    merchant_locations = {location.code: location for location in batch.merchant.locations.all()}
    products = dict(Product.objects.filter(sku__in={record["sku"] for record in records}).values_list("sku", "pk"))
    refused = _refusals(batch, records, products, set(merchant_locations))
    records = sorted((record for record in records if record["client_uuid"] not in refused),
                     key=lambda record: record["occurred_at"])
    if not records:
        return Written(set(), [], refused)
    levels = _levels_locked({(products[record["sku"]], code) for record in records
                             for code in (record["location"], record["to_location"]) if code})
    stored_before = {str(uuid) for uuid in InventoryRecord.objects.filter(
        client_uuid__in=[record["client_uuid"] for record in records]).values_list("client_uuid", flat=True)}
    rows, events = [], []
    for record in records:
        if record["client_uuid"] in stored_before:
            continue
        product_id = products[record["sku"]]
        if (applied := _applied(record, levels, product_id)) is None:
            refused[record["client_uuid"]] = {"quantity": [
                _("This change would take the level beyond ±%(limit)s: count the shelf instead.") % {"limit": MAX_LEVEL}]}
            continue
        after, there = applied
        rows.append((record["client_uuid"], batch.location.code, batch.terminal_id, record["change"], product_id,
                     record.get("quantity", record.get("on_hand")), record["reason"], record["to_location"],
                     record["occurred_at"], after))
        events.append(_event(batch, record, batch.location, after))
        if there is not None:
            events.append(_event(batch, record, merchant_locations[record["to_location"]], there,
                                 from_location=batch.location.code))
    created = insert_rows(InventoryRecord, _RECORD, rows, idempotent=True)
    _levels_write(levels.values())
    return Written(set(created), events, refused)


def _levels_write(levels) -> None:
    """Every locked level as it now is, in one statement (a level left as it was is not touched)."""
    rows = list(levels)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {StockLevel._meta.db_table} AS stock SET on_hand = level.on_hand, updated_at = now()
            FROM unnest(%s::bigint[], %s::int[]) AS level(id, on_hand)
            WHERE stock.id = level.id AND stock.on_hand IS DISTINCT FROM level.on_hand
            """,
            [[row[0] for row in rows], [row[1] for row in rows]],
        )
