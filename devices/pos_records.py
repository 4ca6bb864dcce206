"""Storing what terminals upload, in the merchant's schema, with the domain events it publishes.

Records arrive checked and normalized (`devices/records.py` for the API, `devices/sales.py` for
direct callers): amounts are Decimals, times aware datetimes. A batch is written in one transaction
with one multi-row INSERT per table. Every record is idempotent on its client UUID: the INSERT
skips a UUID that exists (`ON CONFLICT DO NOTHING`), and only the records it created get children
and events. No savepoint, no read-then-write race. A record that needs the merchant's data to be
right (a known SKU, a location of the merchant) is refused by its writer, in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Model
from django_tenants.utils import schema_context

from devices.batches import Batch, Refusals, Written, insert_rows
from devices.customers import customers_store
from devices.inventory import inventory_store
from events.publish import NewEvent, publish_many
from events.types import INVENTORY_CHANGED, SALE_COMPLETED, SHIFT_CLOSED
from merchants.models import Location, Merchant
from merchants.store.models import (
    Customer,
    DeviceStatus,
    InventoryRecord,
    Product,
    Sale,
    SaleLine,
    SaleTaxLine,
    ShiftClose,
    StockLevel,
    Tender,
)
from qiiub.phi import rx_key
from qiiub.rows import pipelined


class Stored(NamedTuple):
    """What `records_store` did: the client UUIDs it created and the records writers refused."""

    created: set[str]
    refused: Refusals


_SALE = ("client_uuid", "location_code", "terminal_id", "completed_at", "subtotal", "tax_state", "tax_municipal", "total")
_LINE = ("sale_id", "sku", "description", "quantity", "unit_price", "line_total", "tax_category", "rx_key")
_TAX_LINE = ("sale_id", "jurisdiction", "rate", "taxable_amount", "amount")
_TENDER = ("sale_id", "kind", "amount", "card_brand", "card_last4", "auth_code", "processor_ref", "entry_method",
           "reference")


def _sales(batch: Batch, sales: list[dict]) -> tuple[set[str], list[NewEvent]]:
    created = insert_rows(Sale, _SALE, [
        (sale["client_uuid"], batch.location.code, batch.terminal_id, sale["completed_at"], sale["subtotal"],
         sale["tax_state"], sale["tax_municipal"], sale["total"])
        for sale in sales
    ], idempotent=True)
    new = [(created[sale["client_uuid"]], sale) for sale in sales if sale["client_uuid"] in created]
    insert_rows(SaleLine, _LINE, [
        (sale_id, line["sku"], line["description"], line["quantity"], line["unit_price"], line["line_total"],
         line.get("tax_category", "standard"),
         rx_key(batch.location.code, line["rx"]["rx_number"], line["rx"]["fill_number"]) if "rx" in line else "")
        for sale_id, sale in new for line in sale["lines"]
    ])
    insert_rows(SaleTaxLine, _TAX_LINE, [
        (sale_id, tax["jurisdiction"], tax["rate"], tax["taxable_amount"], tax["amount"])
        for sale_id, sale in new for tax in sale.get("tax_lines", ())
    ])
    insert_rows(Tender, _TENDER, [
        (sale_id, *(tender.get(column, "") for column in _TENDER[1:]))
        for sale_id, sale in new for tender in sale["tenders"]
    ])
    events = [NewEvent(SALE_COMPLETED.code, _sale_payload(batch, sale), batch.merchant, batch.location)
              for _, sale in new]
    new_sales = [sale for _, sale in new]
    for observer in _sale_observers:
        events += observer(batch, new_sales)
    return set(created), events + _stock_taken(batch, new_sales)


def _stock_taken(batch: Batch, sales: list[dict]) -> list[NewEvent]:
    """What the new sales sold leaves the location's stock, for the products whose stock is
    tracked there (one statement); each level that changed is an `inventory.changed` event.
    Quantities are counted in whole units (a weighed line counts as its rounded quantity)."""
    sold: dict[str, Decimal] = defaultdict(Decimal)
    for sale in sales:
        for line in sale["lines"]:
            sold[line["sku"]] += Decimal(line["quantity"])
    taken = {sku: int(quantity.to_integral_value(ROUND_HALF_UP)) for sku, quantity in sold.items()}
    taken = {sku: quantity for sku, quantity in taken.items() if quantity}
    if not taken:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {StockLevel._meta.db_table} AS stock SET on_hand = stock.on_hand - sold.quantity, updated_at = now()
            FROM {Product._meta.db_table} AS product, unnest(%s::text[], %s::int[]) AS sold(sku, quantity)
            WHERE stock.product_id = product.id AND product.sku = sold.sku AND stock.location_code = %s
            RETURNING product.sku, stock.on_hand
            """,
            [list(taken), list(taken.values()), batch.location.code],
        )
        levels = cursor.fetchall()
    return [NewEvent(INVENTORY_CHANGED.code, {"sku": sku, "location": batch.location.code, "on_hand": on_hand},
                     batch.merchant, batch.location) for sku, on_hand in levels]


def _sale_payload(batch: Batch, sale: dict) -> dict:
    return {
        "sale_id": sale["client_uuid"], "location": batch.location.code, "completed_at": sale["completed_at"].isoformat(),
        "total": str(sale["total"]), "tax_state": str(sale["tax_state"]), "tax_municipal": str(sale["tax_municipal"]),
        "tenders": [{"kind": tender["kind"], "amount": str(tender["amount"])} for tender in sale["tenders"]],
    }


_SHIFT = ("client_uuid", "location_code", "terminal_id", "opened_at", "closed_at", "cashier", "sales_count",
          "sales_total", "expected_cash", "counted_cash")


def _shift_closes(batch: Batch, shifts: list[dict]) -> tuple[set[str], list[NewEvent]]:
    created = insert_rows(ShiftClose, _SHIFT, [
        (shift["client_uuid"], batch.location.code, batch.terminal_id, *(shift[column] for column in _SHIFT[3:]))
        for shift in shifts
    ], idempotent=True)
    events = [
        NewEvent(SHIFT_CLOSED.code, {
            "shift_id": shift["client_uuid"], "location": batch.location.code, "cashier": shift["cashier"],
            "closed_at": shift["closed_at"].isoformat(), "sales_count": shift["sales_count"],
            "sales_total": str(shift["sales_total"]), "expected_cash": str(shift["expected_cash"]),
            "counted_cash": str(shift["counted_cash"]),
        }, batch.merchant, batch.location)
        for shift in shifts if shift["client_uuid"] in created
    ]
    return set(created), events


_DEVICE = ("client_uuid", "location_code", "terminal_id", "device", "state", "detail", "reported_at")


def _device_statuses(batch: Batch, statuses: list[dict]) -> tuple[set[str], list[NewEvent]]:
    created = insert_rows(DeviceStatus, _DEVICE, [
        (status["client_uuid"], batch.location.code, batch.terminal_id, *(status[column] for column in _DEVICE[3:]))
        for status in statuses
    ], idempotent=True)
    return set(created), []


# A writer returns (created, events) or a `Written` with its refusals.
Writer = Callable[[Batch, list[dict]], tuple[set[str], list[NewEvent]] | Written]
SaleObserver = Callable[[Batch, list[dict]], list[NewEvent]]
WRITERS: dict[str, Writer] = {"sale": _sales, "shift_close": _shift_closes, "device_status": _device_statuses,
                              "inventory": inventory_store, "customer": customers_store}
STORED_IN: dict[str, type[Model]] = {"sale": Sale, "shift_close": ShiftClose, "device_status": DeviceStatus,
                                     "inventory": InventoryRecord, "customer": Customer}
_sale_observers: list[SaleObserver] = []


def register_writer(record_type: str, writer: Writer, model: type[Model]) -> None:
    """A record type stored by a higher app (Rx pickups: pharmacy), registered from its ready():
    `writer` stores the checked records in the merchant's schema, in the upload's transaction, and
    `model` (an UploadedRecord-shaped table) answers whether a client UUID was stored."""
    WRITERS[record_type], STORED_IN[record_type] = writer, model


def observe_new_sales(observer: SaleObserver) -> None:
    """`observer(batch, sales)` sees every newly stored sale in the upload's transaction and may
    return events to publish with them (pharmacy: Rx lines go back to the pharmacy system)."""
    if observer not in _sale_observers:
        _sale_observers.append(observer)


def records_store(*, batch: Batch, records: dict[str, list[dict]], publish: bool = True) -> Stored:
    """Write checked records ({type: [record, …]}) and publish their events, in one transaction.
    Returns the client UUIDs created and the records refused; the others already existed and
    changed nothing. `publish=False` only measures the business write alone (bench/)."""
    stored: set[str] = set()
    refused: Refusals = {}
    # The events are written from the merchant's schema too (the outbox is found in public through
    # the search path): switching back and forth would cost a round trip.
    with transaction.atomic(), schema_context(batch.merchant.schema_name), pipelined():
        events: list[NewEvent] = []
        for record_type, rows in records.items():
            if rows:
                written = Written(*WRITERS[record_type](batch, rows))
                stored |= written.created
                events += written.events
                refused |= written.refused
        if publish:
            publish_many(events)
    return Stored(stored, refused)


def record_type_stored(*, merchant: Merchant, location: Location, client_uuid: str) -> str | None:
    """The type of the record stored under `client_uuid` at `location` (None if there is none)."""
    union = " UNION ALL ".join(
        f"SELECT '{record_type}' FROM {model._meta.db_table} WHERE client_uuid = %s AND location_code = %s"
        for record_type, model in STORED_IN.items()
    )
    with schema_context(merchant.schema_name), connection.cursor() as cursor:
        cursor.execute(union + " LIMIT 1", [client_uuid, location.code] * len(STORED_IN))
        row = cursor.fetchone()
    return row[0] if row else None
