"""Xero against its fake (simulators/xero/): OAuth with the organisation from
Connections, the nightly manual journal (debits positive, credits negative) with an
Idempotency-Key, Xero's validation messages, and its per-organisation limits."""

import time
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.utils import timezone

from integrations.models import IntegrationSyncLog, MerchantIntegration, PostedEntry, Status, SyncStatus
from integrations.services.polling import SCHEDULED_BATCHES
from integrations.services.sync import merchant_integration_sync
from qiiub.vault import get_vault
from tests.factories import XERO_ACCOUNTS, open_problem_causes, sell, xero_connected

SAN_JUAN = ZoneInfo("America/Puerto_Rico")


def _yesterday_at(hour: int) -> datetime:
    yesterday = timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1)
    return datetime(yesterday.year, yesterday.month, yesterday.day, hour, tzinfo=SAN_JUAN)


def _batch(integration) -> IntegrationSyncLog:
    return merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk),
                                     due=SCHEDULED_BATCHES)


def _sold_yesterday(merchant):
    location = merchant.locations.order_by("code").first()
    sell(merchant, location=location, at=_yesterday_at(10))  # 10.00 + 1.05 + 0.10 cash
    sell(merchant, location=location, at=_yesterday_at(12), lines=[("standard", "20.00")], state="2.10",
         municipal="0.20",
         tenders=[{"kind": "card", "amount": "22.30", "card_brand": "visa", "card_last4": "4242", "entry_method": "chip"}])
    return location


def _tenant(integration) -> str:
    return get_vault().get(MerchantIntegration.objects.get(pk=integration.pk).credentials_vault_key)["company_id"]


def test_connecting_takes_the_organisation_from_connections(personas, xero_fake):
    xero = xero_connected(personas.colmado)
    assert _tenant(xero) in [tenant["tenantId"] for tenant in xero_fake.posted()["tenants"]]
    assert xero.status == Status.ACTIVE


def test_the_nightly_batch_posts_a_balanced_manual_journal_once(personas, xero_fake):
    merchant = personas.colmado
    xero = xero_connected(merchant)
    _sold_yesterday(merchant)

    log = _batch(xero)

    journals = xero_fake.posted()["manual_journals"]
    assert log.status == SyncStatus.SUCCESS and log.records_pushed == 1 and len(journals) == 1
    lines = {line["AccountCode"]: Decimal(str(line["LineAmount"])) for line in journals[0]["lines"]}
    assert lines == {"090": Decimal("11.15"), "091": Decimal("22.30"), "200": Decimal("-30.00"),
                     "820": Decimal("-3.15"), "821": Decimal("-0.30")}
    assert journals[0]["tenant"] == _tenant(xero) and journals[0]["idempotency_key"]

    # lost record, same night again: Xero answers the original journal for the same Idempotency-Key
    PostedEntry.objects.filter(merchant_integration=xero).delete()
    MerchantIntegration.objects.filter(pk=xero.pk).update(sync_watermark=None)
    assert _batch(xero).status == SyncStatus.SUCCESS
    assert len(xero_fake.posted()["manual_journals"]) == 1 and xero_fake.posted()["replays"] == 1


def test_xeros_validation_message_reaches_the_sync_log(personas, xero_fake):
    merchant = personas.colmado
    xero = xero_connected(merchant, {**XERO_ACCOUNTS, ("Revenue", "SALES"): "999"})  # not in the chart
    _sold_yesterday(merchant)

    log = _batch(xero)

    assert log.status == SyncStatus.FAILED
    assert "Account code '999' is not a valid code for this document" in log.summary
    assert xero_fake.posted()["manual_journals"] == []


def test_the_per_minute_allowance_is_spent_here_before_xero_has_to_refuse(personas, xero_fake):
    merchant = personas.colmado
    xero = xero_connected(merchant)
    _sold_yesterday(merchant)
    cache.set(f"xero:minute:{_tenant(xero)}:{int(time.time() // 60)}", 60, timeout=120)  # 60 calls this minute
    calls_before = xero_fake.posted()["accounting_requests"]

    log = _batch(xero)

    xero.refresh_from_db()
    assert log.status == SyncStatus.RATE_LIMITED and xero.consecutive_error_count == 0
    assert xero_fake.posted()["accounting_requests"] == calls_before  # Xero was not called at all
    assert xero.next_batch_at <= timezone.now() + timedelta(seconds=61)


def test_xeros_daily_limit_429_is_honoured_until_its_retry_after(personas, xero_fake):
    merchant = personas.colmado
    xero = xero_connected(merchant)
    _sold_yesterday(merchant)
    xero_fake.control(day_used={_tenant(xero): 5000})

    log = _batch(xero)

    xero.refresh_from_db()
    assert log.status == SyncStatus.RATE_LIMITED and xero.status == Status.ACTIVE
    assert xero.next_batch_at > timezone.now() + timedelta(minutes=1)  # until midnight UTC, not a minute


def test_an_expired_access_token_is_refreshed_and_a_revoked_grant_asks_to_reconnect(personas, xero_fake):
    merchant = personas.colmado
    xero = xero_connected(merchant)
    _sold_yesterday(merchant)
    xero_fake.control(expire_access_tokens=True)

    assert _batch(xero).status == SyncStatus.SUCCESS
    assert xero_fake.posted()["grants"]["refresh_token"] == 1

    xero_fake.control(revoke_all=True, expire_access_tokens=True)
    MerchantIntegration.objects.filter(pk=xero.pk).update(sync_watermark=None)
    PostedEntry.objects.filter(merchant_integration=xero).delete()
    log = _batch(xero)
    xero.refresh_from_db()
    assert log.status == SyncStatus.FAILED and xero.status == Status.ERROR and "Reconnect" in open_problem_causes(xero)


def test_when_xero_says_the_minute_is_used_up_the_next_call_waits_here(personas, xero_fake):
    from integrations.services import configuring

    merchant = personas.colmado
    xero = xero_connected(merchant)  # the connection test made one Accounting call
    _sold_yesterday(merchant)
    tenant = _tenant(xero)
    minute = int(time.time() // 60)
    # 58 more calls of this minute made elsewhere: Xero counts them, our counter did not see them
    xero_fake.state.minute_hits[tenant].extend([time.monotonic()] * 58)

    assert _batch(xero).status == SyncStatus.SUCCESS  # the 60th call: Xero says 0 remaining
    calls = xero_fake.posted()["accounting_requests"]
    failure = configuring.merchant_integration_test_connection(integration=xero, by=None)

    assert failure is not None and failure.code == "rate_limited"
    if int(time.time() // 60) == minute:  # still the same minute: we did not even ask Xero
        assert xero_fake.posted()["accounting_requests"] == calls
