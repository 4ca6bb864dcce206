"""Shopify outbound against its fake (simulators/shopify/): a POS sale takes stock
at the store, `inventory.changed` is published with it, and the online store's level is set in
Shopify (API version in the path, item found by SKU, call-limit aware, 429 retried after its wait)."""

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from devices.sales import sale_record
from events import dispatch
from events.models import DeliveryStatus, EventDelivery, OutboxEvent
from integrations.models import MerchantIntegration, Status
from integrations.services import configuring, enabling, transitions
from merchants.models import Location
from merchants.store.models import Product, StockLevel
from tests.factories import definition, open_problem_causes


def _shopify(merchant, *, shop: str, token: str = "shpat_test") -> MerchantIntegration:
    integration = enabling.merchant_integration_enable(merchant=merchant, definition=definition("ecommerce.shopify"),
                                                        by=None)
    integration = configuring.merchant_integration_configure(integration=integration,
                                                           configuration={"shop_domain": shop}, by=None)
    integration = configuring.merchant_integration_set_credentials(
        integration=integration, credentials={"admin_api_token": token, "webhook_secret": "whsec"}, by=None)
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    return transitions.merchant_integration_activate(integration=integration, by=None)


def _stocked(merchant, skus=("SKU-001", "LOCAL-ONLY"), on_hand=10) -> None:
    with schema_context(merchant.schema_name):
        for sku in skus:
            product = Product.objects.create(sku=sku, name=sku, price="5.00")
            for location in merchant.locations.all():
                StockLevel.objects.create(product=product, location_code=location.code, on_hand=on_hand)


def _sell(merchant, location, *lines):
    subtotal = sum(5 * quantity for _, quantity in lines)
    total = f"{subtotal:.2f}"
    with transaction.atomic():  # the on-commit relay runs when this commits
        sale_record(merchant=merchant, location=location, sale={
            "client_uuid": str(uuid.uuid4()), "completed_at": timezone.now().isoformat(), "subtotal": total,
            "tax_state": "0.00", "tax_municipal": "0.00", "total": total,
            "lines": [{"sku": sku, "description": sku, "quantity": str(quantity), "unit_price": "5.00",
                       "line_total": f"{5 * quantity:.2f}", "tax_category": "prescription"} for sku, quantity in lines],
            "tenders": [{"kind": "cash", "amount": total}],
        })


def test_a_pos_sale_takes_stock_and_sets_the_online_level_in_shopify(
        personas, shopify_fake, eager_bus, django_capture_on_commit_callbacks):
    merchant = personas.colmado
    _shopify(merchant, shop="colmado-sets.myshopify.com")
    _stocked(merchant)
    store = merchant.locations.order_by("code").first()

    with django_capture_on_commit_callbacks(execute=True):
        _sell(merchant, store, ("SKU-001", 3), ("LOCAL-ONLY", 1))

    with schema_context(merchant.schema_name):
        assert StockLevel.objects.get(product__sku="SKU-001", location_code=store.code).on_hand == 7
    changed = OutboxEvent.objects.filter(merchant=merchant, event_type="inventory.changed")
    assert sorted(event.payload["sku"] for event in changed) == ["LOCAL-ONLY", "SKU-001"]
    writes = shopify_fake.posted()["inventory_writes"]
    assert [(write["sku"], write["available"], write["kind"]) for write in writes] == [("SKU-001", 7, "set")]
    # LOCAL-ONLY is not a Shopify variant: acknowledged without a push
    assert all(delivery.status == DeliveryStatus.SUCCEEDED for delivery in EventDelivery.objects.filter(
        event__in=changed, subscriber_kind="integration"))


def test_a_sale_at_another_store_is_not_pushed(personas, shopify_fake, eager_bus, django_capture_on_commit_callbacks):
    merchant = personas.colmado
    _shopify(merchant, shop="colmado-other.myshopify.com")
    _stocked(merchant, skus=("SKU-002",))
    other = Location.objects.create(merchant=merchant, code="CR02", name="Guaynabo", municipality="Guaynabo")
    _stocked_at(merchant, "SKU-002", other.code)

    with django_capture_on_commit_callbacks(execute=True):
        _sell(merchant, other, ("SKU-002", 1))

    assert OutboxEvent.objects.filter(merchant=merchant, event_type="inventory.changed").count() == 1
    assert shopify_fake.posted()["inventory_writes"] == []


def _stocked_at(merchant, sku, location_code, on_hand=5):
    with schema_context(merchant.schema_name):
        StockLevel.objects.create(product=Product.objects.get(sku=sku), location_code=location_code, on_hand=on_hand)


def test_a_429_storm_is_retried_after_shopifys_wait_and_never_pauses_the_integration(
        personas, shopify_fake, eager_bus, django_capture_on_commit_callbacks):
    merchant = personas.colmado
    _shopify(merchant, shop="colmado-busy.myshopify.com")
    _stocked(merchant, skus=("SKU-003",))
    shopify_fake.control(fail={"status": 429, "count": 4, "retry_after": 40})

    with django_capture_on_commit_callbacks(execute=True):
        _sell(merchant, merchant.locations.order_by("code").first(), ("SKU-003", 1))
    delivery = EventDelivery.objects.get(event__event_type="inventory.changed", subscriber_kind="integration")
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=35)  # Shopify's 40 s, not our 10 s

    for _ in range(3):  # the storm goes on past the three failures that would auto-pause
        EventDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        with django_capture_on_commit_callbacks(execute=True):
            assert dispatch.deliver(delivery_id=delivery.pk) in (DeliveryStatus.PENDING, DeliveryStatus.SUCCEEDED)
    integration = MerchantIntegration.objects.get(pk=delivery.merchant_integration_id)
    assert (integration.status, integration.consecutive_error_count) == (Status.ACTIVE, 0)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 4)
    assert delivery.attempt_log.filter(succeeded=False).count() == 4

    EventDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert dispatch.deliver(delivery_id=delivery.pk) == DeliveryStatus.SUCCEEDED
    assert [write["available"] for write in shopify_fake.posted()["inventory_writes"]] == [9]


def test_a_shopify_outage_counts_toward_auto_pause(personas, shopify_fake, eager_bus,
                                                   django_capture_on_commit_callbacks):
    merchant = personas.colmado
    _shopify(merchant, shop="colmado-down.myshopify.com")
    _stocked(merchant, skus=("SKU-006",))
    shopify_fake.control(fail={"status": 503, "count": 1})

    with django_capture_on_commit_callbacks(execute=True):
        _sell(merchant, merchant.locations.order_by("code").first(), ("SKU-006", 1))
    delivery = EventDelivery.objects.get(event__event_type="inventory.changed", subscriber_kind="integration")
    assert delivery.status == DeliveryStatus.PENDING
    assert MerchantIntegration.objects.get(pk=delivery.merchant_integration_id).consecutive_error_count == 1


@pytest.mark.slow
def test_pushes_slow_down_when_the_bucket_is_nearly_full_instead_of_hitting_429(
        personas, shopify_fake, eager_bus, django_capture_on_commit_callbacks):
    merchant = personas.colmado
    shop = "colmado-bucket.myshopify.com"
    _shopify(merchant, shop=shop)
    _stocked(merchant, skus=("SKU-004",), on_hand=50)
    store = merchant.locations.order_by("code").first()
    shopify_fake.control(bucket_used={shop: 39})  # one call from full

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(4):
            _sell(merchant, store, ("SKU-004", 1))

    state = shopify_fake.posted()
    assert [write["available"] for write in state["inventory_writes"]] == [49, 48, 47, 46]
    assert state["throttled"] == 0


@pytest.mark.security
def test_a_revoked_token_puts_the_integration_in_error(personas, shopify_fake, eager_bus,
                                                       django_capture_on_commit_callbacks):
    merchant = personas.colmado
    integration = _shopify(merchant, shop="colmado-revoked.myshopify.com", token="shpat_revoked_later")
    _stocked(merchant, skus=("SKU-005",))
    shopify_fake.control(revoked_tokens=["shpat_revoked_later"])

    with django_capture_on_commit_callbacks(execute=True):
        _sell(merchant, merchant.locations.order_by("code").first(), ("SKU-005", 1))

    integration.refresh_from_db()
    assert integration.status == Status.ERROR and "Re-enter the credentials" in open_problem_causes(integration)
