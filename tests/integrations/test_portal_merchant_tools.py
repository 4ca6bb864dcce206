"""Merchant admin: the mapping editor (codes seen in sales without a mapping, inline htmx
saves), the sync log with filters and a page per run, and "Sync now" after a fix."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import IntegrationMapping, IntegrationSyncLog, MerchantIntegration, SyncStatus
from integrations.services.polling import SCHEDULED_BATCHES
from integrations.services.sync import merchant_integration_sync
from tests.factories import QUICKBOOKS_ACCOUNTS, quickbooks_connected, sell

SAN_JUAN = ZoneInfo("America/Puerto_Rico")
CHECK = {"kind": "check", "amount": "11.15", "reference": "1043"}


def _yesterday_at(hour: int) -> datetime:
    return datetime.combine(timezone.now().astimezone(SAN_JUAN).date() - timedelta(days=1), time(hour), tzinfo=SAN_JUAN)


@pytest.fixture
def qbo_without_checks(personas, quickbooks_fake):
    """QuickBooks with every mapping but checks, and yesterday's check sale at San Juan."""
    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant, {key: value for key, value in QUICKBOOKS_ACCOUNTS.items()
                                          if key != ("PaymentMethod", "CHECK")})
    sell(merchant, at=_yesterday_at(11), tenders=[CHECK])
    return qbo


def _url(name, merchant, integration, *extra):
    return reverse(f"portal:{name}", args=[merchant.slug, integration.pk, *extra])


def test_the_editor_shows_a_code_used_by_sales_without_a_mapping(client, personas, qbo_without_checks):
    client.force_login(personas.merchant_admin)

    page = client.get(_url("mappings", personas.san_juan, qbo_without_checks)).content.decode()
    detail = client.get(_url("integration", personas.san_juan, qbo_without_checks)).content.decode()

    row = page[page.index('id="mapping-PaymentMethod-CHECK"'):]
    assert "used, not mapped" in row[:row.index("</tr>")]
    assert "1 to map" in detail


def test_an_inline_save_maps_the_code_and_answers_only_its_row(client, personas, qbo_without_checks):
    client.force_login(personas.merchant_admin)

    response = client.post(_url("mapping-set", personas.san_juan, qbo_without_checks),
                           {"group": "PaymentMethod", "code": "CHECK", "target": "38"}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith("<tr") and "Saved." in body
    assert IntegrationMapping.objects.get(merchant_integration=qbo_without_checks, source_code="CHECK").target_code == "38"


@pytest.mark.parametrize(("data", "message"), [
    ({"group": "Nonsense", "code": "CHECK", "target": "38"}, "Unknown mapping group"),
    ({"group": "PaymentMethod", "code": "", "target": "38"}, "Name the code to map"),
    ({"group": "PaymentMethod", "code": "CHECK", "target": "x" * 121}, "at most 120 characters"),
    ({"group": "PaymentMethod", "code": "CHECK", "target": "4111 1111 1111 1111"}, "card"),
])
def test_a_bad_mapping_is_refused_in_its_row_and_nothing_is_stored(client, personas, qbo_without_checks, data, message):
    client.force_login(personas.merchant_admin)
    before = list(IntegrationMapping.objects.filter(merchant_integration=qbo_without_checks).values_list(
        "source_code", "target_code"))

    response = client.post(_url("mapping-set", personas.san_juan, qbo_without_checks), data, HTTP_HX_REQUEST="true")

    assert response.status_code == 422 and message in response.content.decode()
    assert "4111 1111 1111 1111" not in response.content.decode()
    assert list(IntegrationMapping.objects.filter(merchant_integration=qbo_without_checks).values_list(
        "source_code", "target_code")) == before


def test_the_failed_day_is_named_in_the_runs_page_and_posts_after_the_fix(
        client, personas, qbo_without_checks, quickbooks_fake):
    merchant = personas.san_juan
    client.force_login(personas.merchant_admin)
    log = merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=qbo_without_checks.pk),
                                    due=SCHEDULED_BATCHES)
    assert log.status == SyncStatus.PARTIAL

    run = client.get(_url("sync-log", merchant, qbo_without_checks, log.pk)).content.decode()
    assert "Map PaymentMethod CHECK" in run and "Fix the mappings" in run

    client.post(_url("mapping-set", merchant, qbo_without_checks), {"group": "PaymentMethod", "code": "CHECK",
                                                                     "target": "38"})
    assert merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=qbo_without_checks.pk),
                                     due=SCHEDULED_BATCHES).status == SyncStatus.SUCCESS
    assert len(quickbooks_fake.posted()["journal_entries"]) == 1


def test_the_sync_log_filters_by_status_and_date(client, personas, qbo_without_checks):
    client.force_login(personas.merchant_admin)
    now = timezone.now()
    IntegrationSyncLog.objects.bulk_create([
        IntegrationSyncLog(merchant_integration=qbo_without_checks, direction="push", status=status,
                           started_at=now - timedelta(days=age), finished_at=now - timedelta(days=age),
                           error_summary=f"run {status} {age}")
        for status, age in ((SyncStatus.FAILED, 0), (SyncStatus.SUCCESS, 0), (SyncStatus.FAILED, 10))
    ])
    url = _url("sync-logs", personas.san_juan, qbo_without_checks)

    failed_lately = client.get(url, {"status": "failed", "since": (now - timedelta(days=2)).date().isoformat()})
    bad_date = client.get(url, {"since": "yesterday"}, follow=True)

    body = failed_lately.content.decode()
    assert "run failed 0" in body and "run success 0" not in body and "run failed 10" not in body
    assert bad_date.status_code == 200 and "must look like" in bad_date.content.decode()


def test_sync_now_queues_the_run_for_a_worker(client, personas, qbo_without_checks, django_capture_on_commit_callbacks):
    from qiiub.celery import app

    client.force_login(personas.merchant_admin)
    app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            page = client.post(_url("sync-now", personas.san_juan, qbo_without_checks), follow=True).content.decode()
    finally:
        app.conf.task_always_eager = False
    assert "Sync started" in page
    assert qbo_without_checks.sync_logs.filter(status=SyncStatus.PARTIAL).exists()


@pytest.mark.security
def test_another_merchants_mappings_and_runs_answer_404(client, personas, qbo_without_checks):
    client.force_login(personas.retail_admin)  # Colmado Rivera's admin
    log = IntegrationSyncLog.objects.create(merchant_integration=qbo_without_checks, direction="push",
                                            status=SyncStatus.SUCCESS, started_at=timezone.now(),
                                            finished_at=timezone.now())
    for name, extra in (("mappings", ()), ("sync-logs", ()), ("sync-log", (log.pk,))):
        assert client.get(_url(name, personas.san_juan, qbo_without_checks, *extra)).status_code == 404
    response = client.post(_url("mapping-set", personas.san_juan, qbo_without_checks),
                           {"group": "PaymentMethod", "code": "CHECK", "target": "1"})
    assert response.status_code == 404
    assert not IntegrationMapping.objects.filter(merchant_integration=qbo_without_checks, source_code="CHECK").exists()


def test_the_dashboard_says_what_to_do_for_each_integration(client, personas, qbo_without_checks, quickbooks_fake):
    client.force_login(personas.merchant_admin)
    merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=qbo_without_checks.pk),
                              due=SCHEDULED_BATCHES)
    dashboard = reverse("portal:dashboard", args=[personas.san_juan.slug])
    assert "Sales use codes with no account: PaymentMethod CHECK." in client.get(dashboard).content.decode()
    issues = client.get(reverse("portal:issues", args=[personas.san_juan.slug])).content.decode()
    assert "Map PaymentMethod CHECK" in issues and reverse("portal:mappings", args=[
        personas.san_juan.slug, qbo_without_checks.pk]) in issues

    IntegrationMapping.objects.create(merchant_integration=qbo_without_checks, map_group="PaymentMethod",
                                      source_code="CHECK", target_code="38")  # so the day is sent, and refused
    quickbooks_fake.control(revoke_all=True, expire_access_tokens=True)
    merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=qbo_without_checks.pk),
                              due=SCHEDULED_BATCHES)
    assert "Reconnect it: the vendor no longer accepts the connection." in client.get(dashboard).content.decode()
