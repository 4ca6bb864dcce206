"""The pages that list deliveries and runs still work with what retention leaves: the webhook
endpoint's log and failed deliveries, a delivery's page, the integration's page and sync log, the
Issues inbox and SystemAdmin's dead letters (ADR 0039)."""

import pytest
from django.urls import reverse

from events.models import DeliveryStatus
from qiiub.retention import retention_run
from tests.retention.conftest import NOW, event_with, sync_log

SUCCEEDED, DEAD = DeliveryStatus.SUCCEEDED, DeliveryStatus.DEAD


@pytest.fixture
def after_a_run(settings, personas, ledger, endpoint):
    """An old delivered event (goes), a dead delivery to each receiver (kept), old and recent runs."""
    settings.RETENTION_EVENT_DAYS, settings.RETENTION_DEAD_DELIVERY_DAYS, settings.RETENTION_SYNC_LOG_DAYS = 30, 90, 90
    colmado = personas.colmado
    gone = event_with(colmado, days_old=45, deliveries=[(SUCCEEDED, 45, None), (SUCCEEDED, 45, ledger),
                                                        (SUCCEEDED, 45, endpoint)])
    kept = event_with(colmado, days_old=45, deliveries=[(SUCCEEDED, 45, None), (DEAD, 40, ledger),
                                                        (DEAD, 40, endpoint)])
    sync_log(ledger, days_old=120)
    latest = sync_log(ledger, days_old=100, status="failed")
    report = retention_run(now=NOW)
    assert report.deleted["integrations_outboxevent"] >= 1 and report.deleted["integrations_integrationsynclog"] >= 1
    return {"gone": gone, "kept": kept, "latest": latest}


def _page(client, user, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_the_webhook_endpoint_page_lists_what_is_left_and_says_how_long_deliveries_are_kept(
        client, personas, endpoint, after_a_run):
    slug = personas.colmado.slug
    page = _page(client, personas.retail_admin, reverse("portal:webhook", args=[slug, endpoint.pk]))

    dead = after_a_run["kept"].deliveries.get(webhook_endpoint=endpoint)
    assert "Retry 1 failed" in page
    assert reverse("portal:webhook-delivery", args=[slug, endpoint.pk, dead.pk]) in page
    assert "Deliveries are kept for 30 days. Failed ones stay 90 days after they last failed" in page
    _page(client, personas.retail_admin, reverse("portal:webhook-delivery", args=[slug, endpoint.pk, dead.pk]))


def test_the_integration_page_its_sync_log_and_the_issues_inbox_render_with_what_is_left(
        client, personas, ledger, after_a_run):
    slug = personas.colmado.slug
    detail = _page(client, personas.retail_admin, reverse("portal:integration", args=[slug, ledger.pk]))
    runs = _page(client, personas.retail_admin, reverse("portal:sync-logs", args=[slug, ledger.pk]))
    _page(client, personas.retail_admin, reverse("portal:issues", args=[slug]))

    dead = after_a_run["kept"].deliveries.get(merchant_integration=ledger)
    assert reverse("portal:retry-delivery", args=[slug, ledger.pk, dead.pk]) in detail
    assert reverse("portal:sync-log", args=[slug, ledger.pk, after_a_run["latest"].pk]) in runs
    assert "Runs are kept for 90 days, and the latest one always." in runs


def test_systemadmins_dead_letters_still_list_and_open_the_dead_deliveries(client, personas, ledger, after_a_run):
    dead = after_a_run["kept"].deliveries.get(merchant_integration=ledger)

    listing = _page(client, personas.sysadmin, reverse("admin:events_eventdelivery_changelist") + "?status=dead")
    _page(client, personas.sysadmin, reverse("admin:events_eventdelivery_change", args=[dead.pk]))

    assert reverse("admin:events_eventdelivery_change", args=[dead.pk]) in listing
