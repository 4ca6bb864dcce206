import uuid
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.sales import sale_record
from events.models import OutboxEvent
from merchants.store.models import Sale
from qiiub.errors import CardDataRejected, ValidationFailed


def _sale(**changes):
    sale = {
        "client_uuid": str(uuid.uuid4()), "completed_at": timezone.now().isoformat(), "subtotal": "10.00",
        "tax_state": "1.05", "tax_municipal": "0.10", "total": "11.15",
        "lines": [{"sku": "CAFE-1LB", "description": "Café 1 lb", "quantity": "1", "unit_price": "10.00",
                   "line_total": "10.00"}],
        "tenders": [{"kind": "cash", "amount": "5.15"},
                    {"kind": "card", "amount": "6.00", "card_brand": "visa", "card_last4": "1111", "auth_code": "A1B2",
                     "entry_method": "chip"}],
    }
    sale.update(changes)
    return sale


def _sales(merchant):
    with schema_context(merchant.schema_name):
        return list(Sale.objects.values_list("total", flat=True))


def test_a_sale_is_written_in_the_merchants_schema_with_its_event_and_a_repeat_changes_nothing(personas):
    merchant, location = personas.colmado, personas.colmado.locations.first()
    sale = _sale()
    _, created = sale_record(merchant=merchant, location=location, sale=sale)
    assert created and _sales(merchant) == [Decimal("11.15")]
    event = OutboxEvent.objects.get()
    assert event.event_type == "sale.completed" and event.payload["sale_id"] == sale["client_uuid"]
    assert event.location == location

    _, created = sale_record(merchant=merchant, location=location, sale=sale)
    assert not created and len(_sales(merchant)) == 1 and OutboxEvent.objects.count() == 1
    assert _sales(personas.retail[1]) == []  # another merchant's schema is untouched


def test_tenders_that_do_not_add_up_are_refused_and_nothing_is_stored(personas):
    with pytest.raises(ValidationFailed, match="add up to 11.00, not the sale's total 11.15"):
        sale_record(merchant=personas.colmado, location=personas.colmado.locations.first(),
                    sale=_sale(tenders=[{"kind": "cash", "amount": "11.00"}]))
    assert _sales(personas.colmado) == [] and not OutboxEvent.objects.exists()


@pytest.mark.security
def test_a_card_number_in_a_sale_is_refused_and_nothing_is_stored(personas):
    tenders = [{"kind": "card", "amount": "11.15", "processor_ref": "5500 0000 0000 0004"}]
    with pytest.raises(CardDataRejected, match="sale.tenders\\[0\\].processor_ref"):
        sale_record(merchant=personas.colmado, location=personas.colmado.locations.first(), sale=_sale(tenders=tenders))
    assert _sales(personas.colmado) == [] and not OutboxEvent.objects.exists()


def test_records_recorded_directly_are_all_or_none_and_a_refused_one_says_why(personas):
    from devices.sales import records_record
    from merchants.store.models import Customer, Product, StockLevel

    merchant = personas.colmado
    store = merchant.locations.get()
    with schema_context(merchant.schema_name):
        Product.objects.create(sku="CAFE-1LB", name="Café", price="4.00")
    customer = {"type": "customer", "client_uuid": str(uuid.uuid4()), "customer_code": "CR-1", "name": "Ana",
                "marketing_consent": False, "created_at": "2026-01-15T10:00:00-04:00",
                "updated_at": "2026-01-15T10:00:00-04:00"}
    unknown = {"type": "inventory", "client_uuid": str(uuid.uuid4()), "change": "count", "sku": "NOPE",
               "location": store.code, "on_hand": 3, "occurred_at": timezone.now().isoformat()}

    with pytest.raises(ValidationFailed, match="Record 1 is not valid: No product with SKU NOPE") as refused:
        records_record(merchant=merchant, location=store, records=[customer, unknown])

    assert list(refused.value.extra["field_errors"]) == ["records[1].sku"]
    with schema_context(merchant.schema_name):
        assert not Customer.objects.exists() and not StockLevel.objects.exists()
    assert not OutboxEvent.objects.exists()
