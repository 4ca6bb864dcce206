"""QuickBooks Online against its fake (simulators/quickbooks/): the OAuth connect flow
from the portal, the nightly journal per location and day, token refresh, and the vendor
faults (expired token mid-batch, revoked grant, 429 storms, 5xx, unbalanced journals)."""

import threading
import time as time_module
from datetime import datetime, time, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from integrations.connectors.oauth import REFRESH_MARGIN_S
from integrations.models import (
    IntegrationMapping,
    IntegrationSyncLog,
    MerchantIntegration,
    PostedEntry,
    Status,
    SyncStatus,
)
from integrations.services import configuring, oauth
from integrations.services.polling import SCHEDULED_BATCHES
from integrations.services.sync import merchant_integration_sync
from merchants.store.models import Sale
from qiiub.models import VaultSecret
from qiiub.vault import get_vault
from tests.factories import (
    QUICKBOOKS_ACCOUNTS,
    oauth_consent,
    oauth_reconnect,
    open_problem_causes,
    quickbooks_connected,
    quickbooks_enabled,
    sell,
)

SAN_JUAN = ZoneInfo("America/Puerto_Rico")
ACCOUNTS = QUICKBOOKS_ACCOUNTS


def _yesterday_at(hour: int) -> datetime:
    yesterday = timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1)
    return datetime.combine(yesterday, time(hour), tzinfo=SAN_JUAN)


def _batch(integration) -> IntegrationSyncLog:
    return merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk),
                                     due=SCHEDULED_BATCHES)


def _two_locations_sold_yesterday(merchant):
    first, second = merchant.locations.order_by("code")[:2]
    sell(merchant, location=first, at=_yesterday_at(10))  # 10.00 + 1.05 + 0.10, cash
    sell(merchant, location=first, at=_yesterday_at(15), lines=[("standard", "20.00")], state="2.10", municipal="0.20",
         tenders=[{"kind": "card", "amount": "22.30", "card_brand": "visa", "card_last4": "4242", "entry_method": "chip"}])
    sell(merchant, location=second, at=_yesterday_at(11))
    return first, second


def test_connecting_from_the_portal_stores_the_grant_in_the_vault_and_tests_it(client, personas, quickbooks_fake):
    client.force_login(personas.merchant_admin)
    integration = quickbooks_enabled(personas.san_juan)

    start = client.post(reverse("portal:oauth-connect", args=[personas.san_juan.slug, integration.pk]))
    consent_url = start["Location"]
    assert consent_url.startswith(quickbooks_fake.url) and "com.intuit.quickbooks.accounting" in parse_qs(
        urlsplit(consent_url).query)["scope"][0]
    callback = client.get(reverse("portal:oauth-callback"), oauth_consent(consent_url), follow=True)

    integration.refresh_from_db()
    grant = get_vault().get(integration.credentials_vault_key)
    assert integration.last_test_ok and grant["company_id"] in quickbooks_fake.posted()["realms"]
    assert "connected and tested" in callback.content.decode()
    assert grant["access_token"] not in callback.content.decode()  # tokens never reach a page
    page = client.get(reverse("portal:integration", args=[personas.san_juan.slug, integration.pk])).content.decode()
    assert "Reconnect to QuickBooks Online" in page and grant["refresh_token"] not in page


@pytest.mark.security
def test_a_callback_with_a_wrong_or_foreign_state_is_refused_and_stores_nothing(client, personas, quickbooks_fake):
    client.force_login(personas.merchant_admin)
    integration = quickbooks_enabled(personas.san_juan)
    consent_url = client.post(reverse("portal:oauth-connect", args=[personas.san_juan.slug, integration.pk]))["Location"]
    query = oauth_consent(consent_url)
    secrets_before = VaultSecret.objects.count()

    forged = client.get(reverse("portal:oauth-callback"), {**query, "state": query["state"][:-2] + "xx"})
    other_browser = client.__class__()
    other_browser.force_login(personas.merchant_admin)  # same user, another session: not the one that started it
    foreign = other_browser.get(reverse("portal:oauth-callback"), query)

    assert forged.status_code == 400 and "wrong state" in forged.content.decode()
    assert foreign.status_code == 400 and "not started in this browser session" in foreign.content.decode()
    integration.refresh_from_db()
    assert not integration.credentials_vault_key and VaultSecret.objects.count() == secrets_before
    assert quickbooks_fake.posted()["grants"].get("authorization_code", 0) == 0  # the code was never traded
    # The browser that started it still can, once: a replay of the same callback is refused.
    assert client.get(reverse("portal:oauth-callback"), query).status_code == 302
    assert client.get(reverse("portal:oauth-callback"), query).status_code == 400


def test_a_denied_consent_changes_nothing(client, personas, quickbooks_fake):
    client.force_login(personas.merchant_admin)
    integration = quickbooks_enabled(personas.san_juan)
    quickbooks_fake.control(deny_next_consent=True)
    consent_url = client.post(reverse("portal:oauth-connect", args=[personas.san_juan.slug, integration.pk]))["Location"]

    page = client.get(reverse("portal:oauth-callback"), oauth_consent(consent_url), follow=True).content.decode()

    assert "was not connected (access_denied)" in page
    integration.refresh_from_db()
    assert not integration.credentials_vault_key and integration.status == Status.CONFIGURING


def test_the_nightly_batch_posts_one_balanced_entry_per_location_and_day_once(personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    first, second = _two_locations_sold_yesterday(merchant)

    log = _batch(qbo)

    entries = quickbooks_fake.posted()["journal_entries"]
    assert log.status == SyncStatus.SUCCESS and log.records_pushed == 2 and len(entries) == 2
    by_side = {(line["JournalEntryLineDetail"]["PostingType"], line["JournalEntryLineDetail"]["AccountRef"]["value"]):
               Decimal(str(line["Amount"])) for line in entries[0]["lines"]}
    assert by_side == {("Debit", "36"): Decimal("11.15"), ("Debit", "37"): Decimal("22.30"),
                       ("Credit", "79"): Decimal("30.00"), ("Credit", "80"): Decimal("3.15"),
                       ("Credit", "81"): Decimal("0.30")}
    assert {entry["TxnDate"] for entry in entries} == {_yesterday_at(0).date().isoformat()}
    assert all(len(entry["requestid"]) <= 50 for entry in entries)
    qbo.refresh_from_db()
    assert qbo.sync_watermark == datetime.combine(timezone.now().astimezone(SAN_JUAN).date(), time(0), tzinfo=SAN_JUAN)

    # The same night again, even with our record of it lost: QuickBooks sees the same requestid.
    assert _batch(qbo).records_pushed == 0
    PostedEntry.objects.filter(merchant_integration=qbo).delete()
    MerchantIntegration.objects.filter(pk=qbo.pk).update(sync_watermark=None)
    _batch(qbo)
    state = quickbooks_fake.posted()
    assert len(state["journal_entries"]) == 2 and state["replays"] == 2


def test_a_missing_mapping_fails_only_that_location_and_holds_the_watermark(personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant, {key: target for key, target in ACCOUNTS.items() if key != ("PaymentMethod", "CREDIT")})
    first, second = _two_locations_sold_yesterday(merchant)

    log = _batch(qbo)

    assert log.status == SyncStatus.PARTIAL and log.records_pushed == 1
    assert f"{first.code}" in log.summary and "Map PaymentMethod CREDIT" in log.summary
    assert [entry["lines"][0]["JournalEntryLineDetail"]["AccountRef"]["value"]
            for entry in quickbooks_fake.posted()["journal_entries"]] == ["36"]  # the second location's cash
    qbo.refresh_from_db()
    assert qbo.status == Status.ACTIVE and qbo.sync_watermark.astimezone(SAN_JUAN).date() == _yesterday_at(0).date()

    IntegrationMapping.objects.create(merchant_integration=qbo, map_group="PaymentMethod", source_code="CREDIT",
                                      target_code="37")
    assert _batch(qbo).status == SyncStatus.SUCCESS
    assert len(quickbooks_fake.posted()["journal_entries"]) == 2


def test_an_unbalanced_journal_is_never_sent(personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    first, _ = _two_locations_sold_yesterday(merchant)
    from django_tenants.utils import schema_context

    with schema_context(merchant.schema_name):  # a rounding bug stored a cent too much
        Sale.objects.filter(location_code=first.code).update(tax_municipal=Decimal("0.11"))

    log = _batch(qbo)

    assert log.status == SyncStatus.PARTIAL and "does not balance" in log.summary
    assert all(entry["lines"][0]["JournalEntryLineDetail"]["AccountRef"]["value"] == "36"
               for entry in quickbooks_fake.posted()["journal_entries"])
    assert len(quickbooks_fake.posted()["journal_entries"]) == 1  # only the balanced location


def test_an_access_token_expired_mid_batch_is_refreshed_once_and_the_batch_completes(
        personas, quickbooks_fake, django_capture_on_commit_callbacks):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    _two_locations_sold_yesterday(merchant)
    old_key = MerchantIntegration.objects.get(pk=qbo.pk).credentials_vault_key
    quickbooks_fake.control(expire_access_tokens=True, expired_format="xml")

    with django_capture_on_commit_callbacks(execute=True):
        log = _batch(qbo)

    assert log.status == SyncStatus.SUCCESS and log.records_pushed == 2
    assert quickbooks_fake.posted()["grants"]["refresh_token"] == 1
    qbo.refresh_from_db()
    assert qbo.credentials_vault_key != old_key and not VaultSecret.objects.filter(key=old_key).exists()
    assert qbo.last_test_ok  # the same connection: no new test needed


def test_each_refresh_saves_the_rotated_refresh_token_so_the_next_refresh_works(personas, quickbooks_fake):
    # QuickBooks rotates the refresh token on every refresh and refuses the previous one: a second
    # refresh only works if the first one's rotated token was saved.
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    refresh_tokens = [_stored_grant(qbo)["refresh_token"]]

    for refreshes in (1, 2):
        quickbooks_fake.control(expire_access_tokens=True)
        assert configuring.merchant_integration_test_connection(
            integration=MerchantIntegration.objects.get(pk=qbo.pk), by=None) is None
        assert quickbooks_fake.posted()["grants"]["refresh_token"] == refreshes
        refresh_tokens.append(_stored_grant(qbo)["refresh_token"])

    assert len(set(refresh_tokens)) == 3  # each refresh stored the token it was given
    assert MerchantIntegration.objects.get(pk=qbo.pk).status == Status.ACTIVE


def test_a_token_close_to_expiry_is_refreshed_before_the_batch_calls_quickbooks(personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    _two_locations_sold_yesterday(merchant)
    _near_expiry(qbo)  # QuickBooks would still take the token, but it lapses within the refresh margin

    log = _batch(qbo)

    assert log.status == SyncStatus.SUCCESS and log.records_pushed == 2
    assert quickbooks_fake.posted()["grants"]["refresh_token"] == 1
    assert _stored_grant(qbo)["expires_at"] > time_module.time() + 3000  # a full hour again


def _near_expiry(integration) -> dict:
    """The stored grant's access token made to lapse within the refresh margin (under a new vault
    key, as every credential change is: a key's secret never changes)."""
    closing = {**_stored_grant(integration), "expires_at": int(time_module.time()) + REFRESH_MARGIN_S - 60}
    key = f"mi-{integration.pk}-closing"
    get_vault().put(key, closing)
    MerchantIntegration.objects.filter(pk=integration.pk).update(credentials_vault_key=key)
    return closing


def _stored_grant(integration) -> dict:
    return get_vault().get(MerchantIntegration.objects.get(pk=integration.pk).credentials_vault_key)


def test_a_revoked_grant_puts_the_integration_in_error_with_a_reconnect_prompt_and_posts_nothing(
        client, personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    _two_locations_sold_yesterday(merchant)
    quickbooks_fake.control(revoke_all=True)

    log = _batch(qbo)

    qbo.refresh_from_db()
    assert log.status == SyncStatus.FAILED and qbo.status == Status.ERROR and not qbo.last_test_ok
    assert "Reconnect" in open_problem_causes(qbo)
    assert quickbooks_fake.posted()["journal_entries"] == [] and not PostedEntry.objects.filter(merchant_integration=qbo)
    client.force_login(personas.merchant_admin)
    page = client.get(reverse("portal:integration", args=[merchant.slug, qbo.pk])).content.decode()
    assert "no longer accepts the connection" in page and "Reconnect to QuickBooks Online" in page

    # Reconnecting puts it back to work, and the held-back day is posted.
    qbo, failure = oauth_reconnect(qbo, by=personas.merchant_admin)
    assert failure is None and qbo.status == Status.ACTIVE
    assert _batch(qbo).records_pushed == 2


def test_a_429_storm_defers_the_batch_and_never_pauses(personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    _two_locations_sold_yesterday(merchant)
    quickbooks_fake.control(fail={"status": 429, "count": 5, "retry_after": 120})

    logs = [_batch(qbo) for _ in range(4)]

    qbo.refresh_from_db()
    assert {log.status for log in logs} == {SyncStatus.RATE_LIMITED}
    assert qbo.status == Status.ACTIVE and qbo.consecutive_error_count == 0
    assert qbo.next_batch_at >= timezone.now() + timedelta(seconds=100)  # the Retry-After it asked for


def test_three_5xx_in_a_row_auto_pause_and_email_the_admins(personas, quickbooks_fake, django_capture_on_commit_callbacks):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    _two_locations_sold_yesterday(merchant)
    quickbooks_fake.control(fail={"status": 503, "count": 3, "retry_after": None})

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            _batch(qbo)

    qbo.refresh_from_db()
    assert qbo.status == Status.PAUSED and qbo.paused_reason == "auto"
    assert len(mail.outbox) == 1 and "QuickBooks Online" in mail.outbox[0].subject


LATE_S = 0.8  # how late the fake answers; our timeout is shorter


def _wait_out_late_answers() -> None:
    """The fake still handles what we gave up on (a vendor may apply a call whose answer was lost):
    let it finish, so the test goes on from a settled vendor."""
    time_module.sleep(LATE_S)


@pytest.mark.fault
def test_a_quickbooks_that_does_not_answer_in_time_is_a_failure_and_nothing_is_posted_twice(
        personas, quickbooks_fake, settings):
    settings.CONNECTOR_TIMEOUT_S = 0.3
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    _two_locations_sold_yesterday(merchant)
    quickbooks_fake.control(delay_s=LATE_S)

    log = _batch(qbo)
    _wait_out_late_answers()

    qbo.refresh_from_db()
    assert log.status == SyncStatus.FAILED and "did not answer in time" in log.summary
    assert qbo.consecutive_error_count == 1 and qbo.status == Status.ACTIVE  # an outage counts; not yet a pause
    assert not PostedEntry.objects.filter(merchant_integration=qbo) and qbo.sync_watermark is None

    quickbooks_fake.control(delay_s=0)  # QuickBooks answers again: the day goes in, once per location
    assert _batch(qbo).records_pushed == 2
    assert len(quickbooks_fake.posted()["journal_entries"]) == 2


@pytest.mark.fault
def test_a_sign_in_service_that_does_not_answer_in_time_leaves_the_stored_grant_as_it_was(
        personas, quickbooks_fake, settings):
    settings.CONNECTOR_TIMEOUT_S = 0.3
    qbo = quickbooks_connected(personas.san_juan)
    grant = _near_expiry(qbo)  # so the first call is the refresh
    quickbooks_fake.control(delay_s=LATE_S)

    error = configuring.merchant_integration_test_connection(integration=MerchantIntegration.objects.get(pk=qbo.pk),
                                                           by=None)
    _wait_out_late_answers()

    assert error is not None and error.code == "vendor_unavailable" and "sign-in service" in error.message
    assert _stored_grant(qbo) == grant  # nothing half-saved
    assert MerchantIntegration.objects.get(pk=qbo.pk).status == Status.ACTIVE  # no reconnect asked for a timeout


def test_a_fault_inside_an_http_200_is_a_failure_with_quickbooks_message(personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant, {**ACCOUNTS, ("Revenue", "SALES"): "9999"})  # not in the company's chart
    _two_locations_sold_yesterday(merchant)

    log = _batch(qbo)

    assert log.status == SyncStatus.FAILED and "Invalid Reference Id" in log.summary
    assert quickbooks_fake.posted()["journal_entries"] == []


@pytest.mark.fault
def test_two_workers_refreshing_at_once_refresh_the_grant_once_and_share_it(committed, quickbooks_fake):
    # given a connected QuickBooks whose access token both workers hold as expired
    qbo = quickbooks_connected(committed.colmado)
    stale = get_vault().get(MerchantIntegration.objects.get(pk=qbo.pk).credentials_vault_key)["access_token"]
    tokens: list[str] = []

    def worker() -> None:
        from django.db import connection

        try:
            tokens.append(oauth.fresh_tokens(integration=MerchantIntegration.objects.get(pk=qbo.pk), stale=stale)[
                "access_token"])
        finally:
            connection.close()

    # when both refresh at the same moment
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then QuickBooks saw one refresh (a second would have used a rotated, dead refresh token), and
    # both workers carry on with the same new token, which is the one stored
    assert quickbooks_fake.posted()["grants"]["refresh_token"] == 1
    assert len(tokens) == 2 and tokens[0] == tokens[1] != stale
    assert get_vault().get(MerchantIntegration.objects.get(pk=qbo.pk).credentials_vault_key)["access_token"] == tokens[0]


def test_configured_for_sales_receipts_the_day_is_one_receipt_per_location(personas, quickbooks_fake):
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant)
    configuring.merchant_integration_configure(integration=qbo, configuration={"posting": "sales_receipt"}, by=None)
    _two_locations_sold_yesterday(merchant)

    log = _batch(qbo)

    receipts = quickbooks_fake.posted()["sales_receipts"]
    assert log.status == SyncStatus.SUCCESS and len(receipts) == 2 and quickbooks_fake.posted()["journal_entries"] == []
    first = {line["SalesItemLineDetail"]["ItemRef"]["value"]: Decimal(str(line["Amount"])) for line in receipts[0]["lines"]}
    assert first == {"79": Decimal("30.00"), "80": Decimal("3.15"), "81": Decimal("0.30")}
