"""Acumatica against its fake (simulators/acumatica/): a poll signs in, reads every
page of the items changed since the watermark into the catalog, and always signs out; the
watermark moves only after the whole page set was read."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from events.models import OutboxEvent
from integrations.connectors.acumatica import PAGE_SIZE
from integrations.models import MerchantIntegration, Status, SyncStatus
from integrations.services.sync import merchant_integration_sync
from merchants.store.models import Product
from tests.factories import ACUMATICA_CONFIG, active_acumatica

HOUR = timedelta(hours=1)


def _items(count: int, *, start: datetime, prefix: str = "ITEM") -> list[dict]:
    return [{"InventoryID": f"{prefix}-{index:04d}", "Description": f"Item {index}", "DefaultPrice": 1 + index / 100,
             "LastModified": (start + timedelta(seconds=index)).isoformat()} for index in range(count)]


def _poll(integration):
    return merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))


def test_a_poll_reads_every_page_into_the_catalog_signs_out_and_advances_the_watermark(personas, acumatica_fake):
    merchant = personas.colmado
    integration = active_acumatica(merchant, by=None, token="tok-pages")
    start = (timezone.now() - 2 * HOUR).replace(microsecond=0)
    items = _items(PAGE_SIZE * 2 + 30, start=start)
    acumatica_fake.control(items={ACUMATICA_CONFIG["company"]: items})

    log = _poll(integration)

    state = acumatica_fake.posted()
    assert log.status == SyncStatus.SUCCESS and log.records_pulled == len(items)
    assert [triple[2] for triple in state["last_filters"][-3:]] == ["0", str(PAGE_SIZE), str(2 * PAGE_SIZE)]
    assert state["open_sessions"][ACUMATICA_CONFIG["company"]] == 0 and state["logouts"] == state["logins"]
    with schema_context(merchant.schema_name):
        assert Product.objects.filter(sku__startswith="ITEM-").count() == len(items)
        assert Product.objects.get(sku="ITEM-0005").price == Decimal("1.05")
    assert OutboxEvent.objects.filter(merchant=merchant, event_type="product.updated").count() == len(items)
    integration.refresh_from_db()
    assert integration.sync_watermark == datetime.fromisoformat(items[-1]["LastModified"])


def test_the_next_poll_asks_only_for_changes_since_the_watermark_and_unchanged_items_make_no_event(
        personas, acumatica_fake):
    merchant = personas.colmado
    integration = active_acumatica(merchant, by=None, token="tok-delta")
    acumatica_fake.control(items={ACUMATICA_CONFIG["company"]: _items(5, start=timezone.now() - HOUR)})
    _poll(integration)
    events_before = OutboxEvent.objects.filter(merchant=merchant).count()
    watermark = MerchantIntegration.objects.get(pk=integration.pk).sync_watermark

    acumatica_fake.control(touch={ACUMATICA_CONFIG["company"]: ["ITEM-0001", "ITEM-0003"]})
    log = _poll(integration)

    last_filter = acumatica_fake.posted()["last_filters"][-1][0]
    assert last_filter == f"LastModified gt datetimeoffset'{watermark.isoformat()}'"
    assert log.records_pulled == 2
    # touched in Acumatica but with the same name and price: the catalog and the bus are left alone
    assert OutboxEvent.objects.filter(merchant=merchant).count() == events_before


@pytest.mark.fault
def test_a_failure_on_a_later_page_changes_nothing_keeps_the_watermark_and_still_signs_out(personas, acumatica_fake):
    merchant = personas.colmado
    integration = active_acumatica(merchant, by=None, token="tok-midway")
    acumatica_fake.control(items={ACUMATICA_CONFIG["company"]: _items(PAGE_SIZE + 10, start=timezone.now() - HOUR,
                                                                       prefix="HALF")})
    logins = acumatica_fake.posted()["logins"]
    acumatica_fake.control(fail={"status": 500, "count": 1, "after": 1})  # the first page answers, the second fails

    log = _poll(integration)

    integration.refresh_from_db()
    state = acumatica_fake.posted()
    assert log.status == SyncStatus.FAILED and integration.sync_watermark is None
    with schema_context(merchant.schema_name):
        assert not Product.objects.filter(sku__startswith="HALF-").exists()
    assert state["logins"] == logins + 1 and state["open_sessions"][ACUMATICA_CONFIG["company"]] == 0


def test_the_license_limit_is_rate_limiting_not_a_failure(personas, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-license")
    acumatica_fake.control(max_sessions=0)

    log = _poll(integration)

    integration.refresh_from_db()
    assert log.status == SyncStatus.RATE_LIMITED and integration.consecutive_error_count == 0
    assert integration.status == Status.ACTIVE


def test_a_wrong_password_puts_the_integration_in_error(personas, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-rotated")
    acumatica_fake.control(wrong_passwords=["pw-tok-rotated"])

    log = _poll(integration)

    integration.refresh_from_db()
    assert log.status == SyncStatus.FAILED and integration.status == Status.ERROR
    assert "Invalid credentials" in log.summary or "refused the credentials" in log.summary
