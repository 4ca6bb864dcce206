"""Recording a POS sale in the merchant's schema with its `sale.completed` event (one transaction).

The POS upload API (issue 4) calls `sale_record`; it will add per-record validation around it.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection, transaction
from django_tenants.utils import schema_context

from integrations.events.services import publish
from integrations.events.types import SALE_COMPLETED
from merchants.models import Location, Merchant
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import ValidationFailed

_SALE_COLUMNS = ("client_uuid", "location_code", "completed_at", "subtotal", "tax_state", "tax_municipal", "total")
TENDER_FIELDS = ("kind", "amount", "card_brand", "card_last4", "auth_code", "processor_ref", "entry_method")


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def write_sale(*, merchant: Merchant, location: Location, sale: dict) -> tuple[int, bool]:
    """The business write alone: sale, lines and tenders in the merchant's schema.
    Returns (sale id, created); a sale whose client_uuid exists already changes nothing."""
    with transaction.atomic(savepoint=False), schema_context(merchant.schema_name):
        return _write(location, sale)


def _write(location: Location, sale: dict) -> tuple[int, bool]:
    from merchants.store.models import Sale, SaleLine, Tender

    ensure_no_card_data(sale, "sale")
    total = _money(sale["total"])
    tendered = sum((_money(tender["amount"]) for tender in sale["tenders"]), Decimal("0"))
    if tendered != total:
        raise ValidationFailed(
            f"The tenders add up to {tendered}, not the sale's total {total}.",
            field_errors={"sale.tenders": ["Tenders must add up to the total."]},
        )
    row = Sale(
        client_uuid=sale["client_uuid"], location_code=location.code, completed_at=sale["completed_at"],
        subtotal=_money(sale["subtotal"]), tax_state=_money(sale.get("tax_state", 0)),
        tax_municipal=_money(sale.get("tax_municipal", 0)), total=total,
    )
    # Idempotent on client_uuid in one statement (a POS retries uploads): the sale is created, or
    # it exists and nothing changes. No savepoint, no read-then-write race.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Sale._meta.db_table} ({', '.join(_SALE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_SALE_COLUMNS))})"
            " ON CONFLICT (client_uuid) DO NOTHING RETURNING id",
            [Sale._meta.get_field(column).get_db_prep_save(getattr(row, column), connection) for column in _SALE_COLUMNS],
        )
        inserted = cursor.fetchone()
    if inserted is None:
        return Sale.objects.values_list("pk", flat=True).get(client_uuid=row.client_uuid), False
    row.pk = inserted[0]
    SaleLine.objects.bulk_create(
        [SaleLine(sale=row, **{key: line[key] for key in ("sku", "description", "quantity", "unit_price",
                                                           "line_total")}) for line in sale["lines"]]
    )
    Tender.objects.bulk_create(
        [Tender(sale=row, **{key: tender.get(key, "") for key in TENDER_FIELDS}) for tender in sale["tenders"]]
    )
    return row.pk, True


@transaction.atomic
def sale_record(*, merchant: Merchant, location: Location, sale: dict) -> tuple[int, bool]:
    """Write the sale and publish `sale.completed` in the same transaction (D1)."""
    # The event is written from the merchant's schema too (the outbox is found in public through
    # the search path): switching back and forth would cost a round trip per sale.
    with schema_context(merchant.schema_name):
        sale_id, created = _write(location, sale)
        if created:
            publish(
                event_type=SALE_COMPLETED.code,
                merchant=merchant,
                location=location,
                payload={
                    "sale_id": str(sale["client_uuid"]), "location": location.code,
                    "total": str(_money(sale["total"])), "tax_state": str(_money(sale.get("tax_state", 0))),
                    "tax_municipal": str(_money(sale.get("tax_municipal", 0))),
                    "tenders": [{"kind": t["kind"], "amount": str(_money(t["amount"]))} for t in sale["tenders"]],
                },
            )
    return sale_id, created
