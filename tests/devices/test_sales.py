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
