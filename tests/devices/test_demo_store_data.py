"""The demo's stores have stock and customers, recorded as registers would, and a second run adds
nothing (seeds/demo.py, `make run`)."""

from django_tenants.utils import schema_context

from events.models import OutboxEvent
from merchants.store.models import Customer, StockLevel
from seeds.demo import DEMO_CATALOGS, ensure_demo_store_data


def test_the_demo_stores_get_stock_and_customers_once(personas):
    ensure_demo_store_data(personas)
    events = OutboxEvent.objects.count()

    ensure_demo_store_data(personas)

    assert OutboxEvent.objects.count() == events
    with schema_context(personas.colmado.schema_name):
        levels = dict(StockLevel.objects.filter(location_code="CR01").values_list("product__sku", "on_hand"))
        assert len(levels) == len(DEMO_CATALOGS["colmado-rivera"]) and levels["SKU-001"] == 24
        assert Customer.objects.count() == 3
    with schema_context(personas.san_juan.schema_name):
        otc = dict(StockLevel.objects.filter(product__sku="OTC-100").values_list("location_code", "on_hand"))
        assert otc == {"SJ01": 24 - 6, "SJ02": 24 + 6}
    changed = OutboxEvent.objects.filter(merchant=personas.colmado, event_type="inventory.changed")
    assert {event.payload["sku"] for event in changed} == {sku for sku, _, _ in DEMO_CATALOGS["colmado-rivera"]}
    assert OutboxEvent.objects.filter(event_type="customer.created").count() == 5
