"""Stock changes from the register through the POS upload API: counts set a level, receiving,
shrink and adjustments move it, a transfer moves it between two stores; each level moved is an
`inventory.changed` event, the catalog feed carries the level, and Shopify receives it."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.inventory import MAX_LEVEL
from devices.records import MAX_ON_HAND, MAX_STOCK_CHANGE
from events.models import OutboxEvent
from merchants.store.models import InventoryRecord, Product, StockLevel
from tests.devices.conftest import enrolled


def _upload(terminal, records):
    answer = terminal.client.post("/api/pos/v1/uploads", {"records": records}, format="json")
    assert answer.status_code == 200, answer.content
    return answer.json()


def _change(location, change, sku="CAFE-1LB", **fields):
    return {"type": "inventory", "client_uuid": str(uuid.uuid4()), "change": change, "sku": sku,
            "location": location.code, "occurred_at": timezone.now().isoformat(), **fields}


def _products(merchant, *skus):
    with schema_context(merchant.schema_name):
        for sku in skus:
            Product.objects.create(sku=sku, name=sku, price="4.00")


def _levels(merchant) -> dict:
    with schema_context(merchant.schema_name):
        return {(sku, code): on_hand for sku, code, on_hand in
                StockLevel.objects.values_list("product__sku", "location_code", "on_hand")}


def _events(merchant) -> set[tuple]:
    """(sku, location, on hand, change) of each inventory.changed event (one batch's share a time)."""
    events = OutboxEvent.objects.filter(merchant=merchant, event_type="inventory.changed").select_related("location")
    assert all(event.location.code == event.payload["location"] for event in events)
    return {(event.payload["sku"], event.payload["location"], event.payload["on_hand"], event.payload["change"])
            for event in events}


def _stored_records(merchant) -> int:
    with schema_context(merchant.schema_name):
        return InventoryRecord.objects.count()


def test_a_count_sets_the_level_and_receiving_shrink_and_adjustments_move_it_each_with_its_event(terminal, personas):
    colmado, store = personas.colmado, terminal.location
    _products(colmado, "CAFE-1LB")
    start = timezone.now() - timedelta(minutes=10)
    records = [
        _change(store, "count", on_hand=20, occurred_at=start.isoformat()),
        _change(store, "receiving", quantity=12, reason="purchase_order", occurred_at=(start + timedelta(minutes=1)).isoformat()),
        _change(store, "shrink", quantity=-2, reason="damaged", occurred_at=(start + timedelta(minutes=2)).isoformat()),
        _change(store, "adjustment", quantity=-1, reason="correction", occurred_at=(start + timedelta(minutes=3)).isoformat()),
    ]

    body = _upload(terminal, records)

    assert [result["status"] for result in body["results"]] == ["stored"] * 4
    assert _levels(colmado) == {("CAFE-1LB", "CR01"): 29}
    assert {(on_hand, change) for _, _, on_hand, change in _events(colmado)} == {
        (20, "count"), (32, "receiving"), (30, "shrink"), (29, "adjustment")}

    # when the terminal sends the same upload again (it did not hear the answer)
    again = _upload(terminal, records)

    assert again["duplicates"] == 4 and again["stored"] == 0
    assert _levels(colmado) == {("CAFE-1LB", "CR01"): 29}
    assert len(_events(colmado)) == 4 and _stored_records(colmado) == 4


def test_changes_apply_in_the_order_they_happened_not_the_order_they_were_sent(terminal, personas):
    colmado, store = personas.colmado, terminal.location
    _products(colmado, "CAFE-1LB")
    counted = timezone.now() - timedelta(hours=1)
    received_after = _change(store, "receiving", quantity=5, reason="purchase_order", occurred_at=timezone.now().isoformat())
    count = _change(store, "count", on_hand=10, occurred_at=counted.isoformat())

    _upload(terminal, [received_after, count])

    assert _levels(colmado) == {("CAFE-1LB", "CR01"): 15}


def test_a_transfer_moves_stock_between_two_stores_of_the_merchant_with_an_event_at_each(personas):
    san_juan = personas.san_juan
    santurce, rio_piedras = san_juan.locations.order_by("code")
    terminal = enrolled(santurce)
    _products(san_juan, "OTC-100")
    _upload(terminal, [_change(santurce, "count", sku="OTC-100", on_hand=30)])

    body = _upload(terminal, [_change(santurce, "transfer", sku="OTC-100", quantity=8, reason="store_transfer",
                                      to_location=rio_piedras.code)])

    assert body["stored"] == 1
    assert _levels(san_juan) == {("OTC-100", "SJ01"): 22, ("OTC-100", "SJ02"): 8}
    assert _events(san_juan) == {("OTC-100", "SJ01", 30, "count"), ("OTC-100", "SJ01", 22, "transfer"),
                                 ("OTC-100", "SJ02", 8, "transfer")}


def test_an_unknown_sku_or_a_location_not_the_terminals_is_rejected_with_its_reason_and_stores_nothing(personas):
    san_juan = personas.san_juan
    santurce, rio_piedras = san_juan.locations.order_by("code")
    terminal = enrolled(santurce)
    _products(san_juan, "OTC-100")
    good = _change(santurce, "receiving", sku="OTC-100", quantity=3, reason="purchase_order")
    records = [
        _change(santurce, "count", sku="NOT-IN-CATALOG", on_hand=4),
        _change(rio_piedras, "count", sku="OTC-100", on_hand=4),
        _change(santurce, "transfer", sku="OTC-100", quantity=1, reason="store_transfer", to_location="CR01"),
        good,
    ]

    body = _upload(terminal, records)

    assert [result["status"] for result in body["results"]] == ["rejected", "rejected", "rejected", "stored"]
    assert body["results"][0]["errors"] == {"records[0].sku": [
        "No product with SKU NOT-IN-CATALOG in the catalog: add it to the catalog first."]}
    assert body["results"][1]["errors"] == {"records[1].location": [
        "This terminal records stock at SJ01 only, not at SJ02."]}
    assert body["results"][2]["errors"] == {"records[2].to_location": ["The merchant has no location CR01."]}
    assert _levels(san_juan) == {("OTC-100", "SJ01"): 3}
    assert _stored_records(san_juan) == 1 and len(_events(san_juan)) == 1
    assert terminal.client.get(f"/api/pos/v1/records/{records[0]['client_uuid']}").status_code == 404


@pytest.mark.parametrize(("fields", "errors"), [
    ({"change": "count"}, {"on_hand": ["A count needs on_hand."]}),
    ({"change": "count", "on_hand": 3, "reason": "damaged"}, {"reason": ["A count carries on_hand only."]}),
    ({"change": "receiving", "quantity": -3, "reason": "purchase_order"},
     {"quantity": ["The quantity of a receiving is positive (the units it moves)."]}),
    ({"change": "shrink", "quantity": 3, "reason": "theft"},
     {"quantity": ["The quantity of a shrink is negative (the units it takes away)."]}),
    ({"change": "adjustment", "quantity": 0, "reason": "correction"},
     {"quantity": ["Send a quantity other than 0."]}),
    ({"change": "adjustment", "quantity": 2}, {"reason": ["Send the reason for this change."]}),
    ({"change": "receiving", "quantity": 2, "reason": "purchase_order", "on_hand": 2},
     {"on_hand": ["Only a count carries on_hand; send quantity."]}),
    ({"change": "transfer", "quantity": 2, "reason": "store_transfer"},
     {"to_location": ["A transfer needs the location it goes to."]}),
    ({"change": "transfer", "quantity": 2, "reason": "store_transfer", "to_location": "CR01"},
     {"to_location": ["A transfer goes to another location."]}),
    ({"change": "receiving", "quantity": 2, "reason": "purchase_order", "to_location": "CR02"},
     {"to_location": ["Only a transfer goes to another location."]}),
    ({"change": "receiving", "quantity": MAX_STOCK_CHANGE + 1, "reason": "purchase_order"}, {"quantity": None}),
    ({"change": "count", "on_hand": MAX_ON_HAND + 1}, {"on_hand": None}),
    ({"change": "count", "on_hand": -1}, {"on_hand": None}),
    ({"change": "count", "on_hand": 2.5}, {"on_hand": None}),
    ({"change": "recount", "on_hand": 2}, {"change": None}),
    ({"change": "shrink", "quantity": -1, "reason": "because"}, {"reason": None}),
])
def test_a_stock_change_that_is_not_valid_is_rejected_with_its_reason_and_changes_nothing(terminal, personas, fields,
                                                                                         errors):
    _products(personas.colmado, "CAFE-1LB")

    body = _upload(terminal, [_change(terminal.location, **fields)])

    result = body["results"][0]
    assert result["status"] == "rejected"
    assert set(result["errors"]) == {f"records[0].{field}" for field in errors}
    for field, messages in errors.items():
        if messages:
            assert result["errors"][f"records[0].{field}"] == messages
    assert _levels(personas.colmado) == {} and _stored_records(personas.colmado) == 0
    assert not OutboxEvent.objects.exists()


def test_a_change_that_would_take_a_level_beyond_its_bound_is_rejected(terminal, personas):
    _products(personas.colmado, "CAFE-1LB")
    store = terminal.location
    filling = [_change(store, "count", on_hand=MAX_ON_HAND)] + [
        _change(store, "receiving", quantity=MAX_STOCK_CHANGE, reason="purchase_order")
        for _ in range((MAX_LEVEL - MAX_ON_HAND) // MAX_STOCK_CHANGE + 1)]

    body = _upload(terminal, filling)

    assert [result["status"] for result in body["results"]][-2:] == ["stored", "rejected"]
    assert list(body["results"][-1]["errors"]) == [f"records[{len(filling) - 1}].quantity"]
    assert _levels(personas.colmado) == {("CAFE-1LB", "CR01"): MAX_LEVEL}


@pytest.mark.security
def test_a_card_number_in_a_stock_change_refuses_the_batch_and_stores_nothing(terminal, personas):
    _products(personas.colmado, "CAFE-1LB")
    dirty = _change(terminal.location, "count", on_hand=2, sku="4111-1111-1111-1111")

    answer = terminal.client.post("/api/pos/v1/uploads", {"records": [
        _change(terminal.location, "count", on_hand=5), dirty]}, format="json")

    assert answer.status_code == 422 and answer.json()["error"]["code"] == "card_data_rejected"
    assert _levels(personas.colmado) == {} and _stored_records(personas.colmado) == 0
    assert "4111" not in answer.content.decode()


def test_the_catalog_carries_the_level_at_the_terminals_location_and_a_new_level_brings_the_product_back(terminal,
                                                                                                           personas):
    colmado = personas.colmado
    with schema_context(colmado.schema_name):
        Product.objects.all().delete()
        for sku in ("CAFE-1LB", "ARROZ-5LB"):
            Product.objects.create(sku=sku, name=sku, price="4.00")
        StockLevel.objects.create(product=Product.objects.get(sku="CAFE-1LB"), location_code="CR01", on_hand=6)
        StockLevel.objects.create(product=Product.objects.get(sku="CAFE-1LB"), location_code="CR02", on_hand=99)
        Product.objects.update(updated_at=timezone.now() - timedelta(minutes=2))
        StockLevel.objects.update(updated_at=timezone.now() - timedelta(minutes=2))

    first = terminal.client.get("/api/pos/v1/catalog").json()
    assert {product["sku"]: product["on_hand"] for product in first["products"]} == {"CAFE-1LB": 6, "ARROZ-5LB": None}

    # when the store counts the coffee (the feed serves changes a few seconds old)
    _upload(terminal, [_change(terminal.location, "count", on_hand=11)])
    with schema_context(colmado.schema_name):
        StockLevel.objects.filter(location_code="CR01").update(updated_at=timezone.now() - timedelta(minutes=1))

    changed = terminal.client.get("/api/pos/v1/catalog", {"since": first["next"]}).json()
    assert [(product["sku"], product["on_hand"]) for product in changed["products"]] == [("CAFE-1LB", 11)]



def test_a_count_at_the_online_store_sets_the_level_in_shopify(terminal, personas, shopify_fake, eager_bus,
                                                                django_capture_on_commit_callbacks):
    from tests.integrations.test_shopify import _shopify

    colmado = personas.colmado
    _shopify(colmado, shop="colmado-counts.myshopify.com")
    _products(colmado, "SKU-004")

    with django_capture_on_commit_callbacks(execute=True):
        _upload(terminal, [_change(terminal.location, "count", sku="SKU-004", on_hand=17)])

    writes = shopify_fake.posted()["inventory_writes"]
    assert [(write["sku"], write["available"], write["kind"]) for write in writes] == [("SKU-004", 17, "set")]
