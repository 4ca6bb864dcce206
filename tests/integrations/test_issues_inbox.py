"""One truthful status per integration and the Issues inbox: a success clears the problem it fixes,
a page offers only what the next click would do, problems are grouped across a partner's stores,
and what is stored is read in the reader's language."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from integrations import inbox
from integrations.models import (
    IntegrationSyncLog,
    MerchantIntegration,
    PausedReason,
    Problem,
    ProblemKind,
    ProblemResolution,
    Status,
    SyncDirection,
    SyncStatus,
)
from integrations.services import configuring, health, problems, transitions
from integrations.services.sync import merchant_integration_sync
from partners.models import BulkAction, BulkOutcome
from partners.services import bulk
from qiiub.http import VendorUnavailable
from tests.factories import active_acumatica, definition, sell

SAN_JUAN = ZoneInfo("America/Puerto_Rico")
OUTAGE = VendorUnavailable("vendor_status", vendor="Acumatica", status=503)


def _page(client, name, merchant, *args) -> str:
    return client.get(reverse(f"portal:{name}", args=[merchant.slug, *args])).content.decode()


def _auto_paused(merchant, acumatica_fake, token) -> MerchantIntegration:
    integration = active_acumatica(merchant, by=None, token=token)
    acumatica_fake.control(fail={"status": 503, "count": 3})
    for _ in range(3):
        merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))
    integration.refresh_from_db()
    assert (integration.status, integration.paused_reason) == (Status.PAUSED, PausedReason.AUTO)
    return integration


def test_a_pull_that_works_clears_the_outage_it_fixes_and_keeps_it_as_history(client, personas, acumatica_fake):
    # given an Acumatica whose last poll failed with a 503
    integration = active_acumatica(personas.colmado, by=None, token="tok-inbox-clears")
    acumatica_fake.control(fail={"status": 503, "count": 1})
    failed = merchant_integration_sync(integration=integration)
    client.force_login(personas.retail_admin)
    assert failed.direction == SyncDirection.PULL  # a poll that failed is still a pull, not "Push"
    assert "Acumatica answered 503." in _page(client, "issues", personas.colmado)

    # when the next poll pulls items
    ok = merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))

    # then the problem is closed, gone from every page, and listed as resolved by a run
    assert ok.status == SyncStatus.SUCCESS
    problem = Problem.objects.get(merchant_integration=integration)
    assert (problem.resolution, problem.occurrences) == (ProblemResolution.SUCCEEDED, 1)
    issues = _page(client, "issues", personas.colmado)
    assert issues.index("Acumatica answered 503.") > issues.index('id="problem-history"')
    assert "Acumatica answered 503." not in _page(client, "dashboard", personas.colmado)
    page = _page(client, "integration", personas.colmado, integration.pk)
    assert 'id="problems"' not in page  # the failed run stays in the sync log, as it happened


def test_repeated_failures_are_one_problem_counted_with_first_and_last_seen(personas, acumatica_fake):
    integration = _auto_paused(personas.colmado, acumatica_fake, "tok-inbox-count")

    [row] = inbox.open_problems(personas.colmado)
    assert (row.problem.kind, row.problem.occurrences) == (ProblemKind.VENDOR_DOWN, 3)
    assert row.problem.first_seen_at < row.problem.last_seen_at
    # paused after failures: the fix is a connection test, not "it retries on its own"
    assert row.fix.label == "Test the connection" and row.fix.url.endswith(f"/{integration.pk}/test/")


def test_a_paused_integration_offers_resume_only_when_the_lifecycle_accepts_it(client, personas, acumatica_fake):
    integration = _auto_paused(personas.colmado, acumatica_fake, "tok-inbox-resume")
    client.force_login(personas.retail_admin)

    page = _page(client, "integration", personas.colmado, integration.pk)
    assert reverse("portal:resume", args=[personas.colmado.slug, integration.pk]) not in page
    assert "Paused automatically on" in page and "Acumatica answered 503." in page
    assert "Test the connection; once it passes, resume." in page
    assert "retries on its own" not in page

    # a passing test closes the outage and makes Resume what the page offers
    assert configuring.merchant_integration_test_connection(integration=integration, by=None) is None
    page = _page(client, "integration", personas.colmado, integration.pk)
    assert reverse("portal:resume", args=[personas.colmado.slug, integration.pk]) in page
    assert "The connection test passed: resume it when ready." in page
    assert not Problem.objects.filter(merchant_integration=integration, resolved_at__isnull=True).exists()


def test_a_forced_pause_says_who_paused_it_and_offers_the_merchant_no_resume(client, personas, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-inbox-forced")
    transitions.definition_force_pause_all(definition=integration.definition, by=personas.sysadmin,
                                           reason="Acumatica incident 4411")
    client.force_login(personas.retail_admin)

    page = _page(client, "integration", personas.colmado, integration.pk)

    assert "Paused by QIIUB operations on" in page and "Acumatica incident 4411" in page
    assert "Only QIIUB operations can resume it." in page and "resume it when ready" not in page
    assert reverse("portal:resume", args=[personas.colmado.slug, integration.pk]) not in page


def test_a_forced_pause_over_an_error_keeps_the_reconnect_in_view(client, personas, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-inbox-forced-error")
    acumatica_fake.control(wrong_passwords=["pw-tok-inbox-forced-error"])
    merchant_integration_sync(integration=integration)
    integration.refresh_from_db()
    assert integration.status == Status.ERROR
    transitions.definition_force_pause_all(definition=integration.definition, by=personas.sysadmin, reason="")
    client.force_login(personas.retail_admin)

    page = _page(client, "integration", personas.colmado, integration.pk)

    assert "Paused by QIIUB operations" in page
    assert "Connection refused" in page and "Re-enter the credentials" in page


def test_last_test_says_passed_when_it_passed_and_that_a_change_voided_it(client, personas, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-inbox-test")
    transitions.merchant_integration_pause(integration=integration, by=None, forced=True)  # voids the test
    client.force_login(personas.sysadmin)

    page = _page(client, "integration", personas.colmado, integration.pk)
    last_test = page[page.index('id="last-test"'):page.index('id="last-test"') + 600]

    assert "passed" in last_test and "failed" not in last_test and "it no longer counts" in last_test


def test_last_worked_counts_an_export_and_never_says_never_beside_successes(client, personas):
    qbd = MerchantIntegration.objects.create(merchant=personas.colmado, status=Status.ACTIVE,
                                             definition=definition("accounting.quickbooks_desktop"),
                                             configuration={"period": "daily"})
    IntegrationSyncLog.objects.create(merchant_integration=qbd, direction="push", status=SyncStatus.SUCCESS,
                                      records_pushed=2, started_at=timezone.now(), finished_at=timezone.now())
    client.force_login(personas.retail_admin)

    row = _page(client, "dashboard", personas.colmado)
    row = row[row.index("QuickBooks Desktop"):]
    row = row[:row.index("</tr>")]

    assert "never" not in row and "just now" in row and "1 ok" in row


def test_a_manual_pause_is_not_listed_as_an_outage_on_the_partner_pages(client, personas, acumatica_fake):
    integration = active_acumatica(personas.san_juan, by=None, token="tok-inbox-manual")
    transitions.merchant_integration_pause(integration=integration, by=personas.partner_admin)
    client.force_login(personas.partner_admin)

    health = client.get(reverse("portal:partner", args=[personas.partner.slug])).content.decode()
    issues = client.get(reverse("portal:partner-issues", args=[personas.partner.slug])).content.decode()

    assert 'id="incidents"' not in health and "No store has an open problem." in issues
    assert f"Paused by {personas.partner_admin.username}" in _page(
        client, "integration", personas.san_juan, integration.pk)


def test_one_outage_across_stores_is_one_partner_row_with_its_stores(client, personas, acumatica_fake):
    for merchant in personas.pharmacies[:3]:
        integration = active_acumatica(merchant, by=None, token=f"tok-inbox-group-{merchant.pk}")
        health.merchant_integration_record_failure(integration=integration, error=OUTAGE)
    client.force_login(personas.partner_admin)

    [group] = inbox.partner_problems(personas.partner)
    issues = client.get(reverse("portal:partner-issues", args=[personas.partner.slug])).content.decode()

    assert (group.stores, group.kind, group.cause) == (3, ProblemKind.VENDOR_DOWN, "Acumatica answered 503.")
    assert {name for name, _, _ in group.store_list} == {merchant.name for merchant in personas.pharmacies[:3]}
    assert issues.count('class="problem-group"') == 1 and personas.pharmacies[2].name in issues


def test_the_partner_asks_store_admins_to_reconnect_in_their_language(client, personas, acumatica_fake):
    integration = active_acumatica(personas.san_juan, by=None, token="tok-inbox-remind")
    acumatica_fake.control(wrong_passwords=["pw-tok-inbox-remind"])
    merchant_integration_sync(integration=integration)
    personas.san_juan.language = "es"
    personas.san_juan.save(update_fields=["language"])
    client.force_login(personas.partner_admin)
    mail.outbox.clear()

    page = client.get(reverse("portal:partner-issues", args=[personas.partner.slug])).content.decode()
    response = client.post(reverse("portal:partner-remind", args=[personas.partner.slug]), {"topic": "reconnect"})

    assert "1 integration needs a reconnect" in page and response.status_code == 302
    assert 'hx-confirm="Email the admins of these stores to reconnect?"' in page  # asked before it sends
    assert 'hx-confirm="Email the admins of 5 stores?"' in page  # the coverage lists: the count first
    [email] = mail.outbox
    assert email.to == ["admin@farmaciasanjuan.local"]
    assert email.subject == "Farmacia San Juan: vuelva a conectar Acumatica en QIIUB"
    assert "/portal/m/farmacia-san-juan/issues/" in email.body


def test_an_unknown_reminder_topic_is_refused_and_sends_nothing(client, personas):
    client.force_login(personas.partner_admin)
    mail.outbox.clear()
    response = client.post(reverse("portal:partner-remind", args=[personas.partner.slug]), {"topic": "x'--"},
                           follow=True)
    assert "Choose what to remind the stores of." in response.content.decode() and mail.outbox == []


@pytest.mark.security
def test_another_partners_issues_and_reminders_answer_404(client, personas):
    client.force_login(personas.retail_admin)  # a merchant admin of no partner
    for name in ("partner-issues", "partner-remind"):
        assert client.post(reverse(f"portal:{name}", args=[personas.partner.slug]),
                           {"topic": "accounting"}).status_code == 404
    assert client.get(reverse("portal:issues", args=[personas.san_juan.slug])).status_code == 404


def test_coverage_lists_stores_with_no_accounting_or_tax_integration(personas):
    coverage = inbox.partner_coverage(personas.partner)
    assert personas.pharmacies[1] in coverage.without["accounting"]
    assert personas.pharmacies[1] in coverage.without["tax"]



def test_dead_deliveries_are_one_problem_whose_fix_sends_them_again(client, personas, simulator, eager_bus,
                                                                       django_capture_on_commit_callbacks):
    from events.models import DeliveryStatus
    from tests.integrations.test_events import _dead_delivery

    _, delivery = _dead_delivery(personas, simulator, "tok-inbox-dead")
    client.force_login(personas.retail_admin)
    [row] = [row for row in inbox.open_problems(personas.colmado) if row.problem.kind == ProblemKind.DEAD_DELIVERIES]
    assert row.fix.post and "Retry the deliveries" in _page(client, "issues", personas.colmado)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(row.fix.url, {"from": "issues"})

    assert response.status_code == 302 and response["Location"].endswith("/issues/")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert Problem.objects.get(pk=row.problem.pk).resolution == ProblemResolution.RETRIED


def test_history_reasons_and_problems_are_read_in_the_readers_language(client, personas, acumatica_fake):
    _auto_paused(personas.colmado, acumatica_fake, "tok-inbox-spanish")
    client.force_login(personas.retail_admin)
    client.post(reverse("language-set"), {"language": "es", "next": "/"})

    issues = _page(client, "issues", personas.colmado)
    with translation.override("es"):
        assert "Acumatica respondió 503." in issues and "Probar la conexión" in issues
        assert "3 ejecuciones" in issues


def test_one_failure_is_singular_in_spanish_and_a_fresh_time_is_not_zero_minutes(client, personas, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-inbox-plural")
    acumatica_fake.control(fail={"status": 500, "count": 1})
    merchant_integration_sync(integration=integration)
    merchant_integration_sync(integration=MerchantIntegration.objects.get(pk=integration.pk))
    client.force_login(personas.retail_admin)
    client.post(reverse("language-set"), {"language": "es", "next": "/"})

    page = _page(client, "dashboard", personas.colmado)

    assert "1 fallida" in page and "1 fallidas" not in page
    assert "ahora mismo" in page and "0 minutos" not in page


def test_a_reload_on_an_action_address_goes_back_to_the_page_not_a_blank_405(client, personas):
    integration = MerchantIntegration.objects.create(merchant=personas.colmado, status=Status.CONFIGURING,
                                                     definition=definition("erp.acumatica"))
    client.force_login(personas.retail_admin)
    for name in ("configure", "credentials", "test", "activate", "pause", "resume", "disconnect"):
        response = client.get(reverse(f"portal:{name}", args=[personas.colmado.slug, integration.pk]))
        assert (response.status_code, response["Location"]) == (302, reverse(
            "portal:integration", args=[personas.colmado.slug, integration.pk])), name
    integration.refresh_from_db()
    assert integration.status == Status.CONFIGURING


def test_activating_with_codes_sales_use_unmapped_asks_first_and_names_them(client, personas, quickbooks_fake):
    from tests.factories import QUICKBOOKS_ACCOUNTS, quickbooks_connected

    merchant = personas.san_juan
    qbo = quickbooks_connected(merchant, {key: value for key, value in QUICKBOOKS_ACCOUNTS.items()
                                          if key != ("PaymentMethod", "CHECK")})
    MerchantIntegration.objects.filter(pk=qbo.pk).update(status=Status.CONFIGURING)
    sell(merchant, at=datetime.now(SAN_JUAN) - timedelta(days=1), tenders=[{"kind": "check", "amount": "11.15",
                                                                             "reference": "1001"}])
    client.force_login(personas.merchant_admin)
    activate = reverse("portal:activate", args=[merchant.slug, qbo.pk])

    asked = client.post(activate).content.decode()
    qbo.refresh_from_db()
    assert qbo.status == Status.CONFIGURING
    assert "Recent sales use codes with no account: PaymentMethod CHECK." in asked and "Activate anyway" in asked

    client.post(activate, {"confirmed": "1"})
    qbo.refresh_from_db()
    assert qbo.status == Status.ACTIVE


def test_bulk_enable_skips_what_a_store_disconnected_unless_the_partner_says_so(personas, xero_template_and_store):
    template, merchant = xero_template_and_store
    installed = MerchantIntegration.objects.get(merchant=merchant, definition=template.definition)
    configuring.merchant_integration_disconnect(integration=installed, by=None)

    dry = bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, merchant_ids=[merchant.pk],
                               by=personas.partner_admin, dry_run=True, template=template)
    bulk.bulk_job_run(job_id=dry.pk)
    [store] = dry.stores.all()
    assert store.outcome == BulkOutcome.STORE_DISCONNECTED
    assert store.message.startswith(f"{template.definition.name} was disconnected by the store on ")
    assert bulk.follow_up(dry) is None  # nothing would change: no rollout offered

    job = bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, merchant_ids=[merchant.pk],
                               by=personas.partner_admin, dry_run=False, template=template,
                               reenable_disconnected=True)
    bulk.bulk_job_run(job_id=job.pk)
    installed.refresh_from_db()
    assert installed.status == Status.CONFIGURING and job.stores.get().outcome == BulkOutcome.ENABLED


@pytest.fixture
def xero_template_and_store(personas):
    """A partner template for Xero, and one of the partner's stores with Xero enabled."""
    from integrations.services import enabling
    from partners.models import PartnerIntegrationTemplate

    template = PartnerIntegrationTemplate.objects.create(partner=personas.partner, definition=definition(
        "accounting.xero"), name="Xero defaults", default_configuration={}, default_mappings=[])
    merchant = personas.pharmacies[2]
    enabling.merchant_integration_enable(merchant=merchant, definition=template.definition, by=None)
    return template, merchant


def test_problem_texts_are_stored_as_codes(personas, acumatica_fake):
    integration = active_acumatica(personas.colmado, by=None, token="tok-inbox-codes")
    problem = problems.failure_seen(integration=integration, error=OUTAGE)
    assert problem.cause == {"code": "vendor_status", "params": {"vendor": "Acumatica", "status": 503}}
    with translation.override("es"):
        assert problem.cause_text == "Acumatica respondió 503."


def test_a_failing_webhook_endpoint_is_a_problem_of_the_merchants_own_server_until_it_answers(
        client, personas, receiver, django_capture_on_commit_callbacks):
    from tests.integrations.test_webhooks_outbound import _deliver_sale
    from webhooks.services import webhook_endpoint_create

    endpoint, _ = webhook_endpoint_create(merchant=personas.colmado, url=receiver.url, event_types=["sale.completed"])
    receiver.status = 503
    with django_capture_on_commit_callbacks(execute=True):
        _deliver_sale(personas.colmado, endpoint)
    client.force_login(personas.retail_admin)

    [row] = inbox.open_problems(personas.colmado)
    issues = _page(client, "issues", personas.colmado)
    assert (row.problem.kind, row.cause) == (ProblemKind.ENDPOINT_FAILING, "The endpoint answered 503.")
    assert "Open the endpoint" in issues and "vendor" not in row.cause

    receiver.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        _deliver_sale(personas.colmado, endpoint)
    assert inbox.open_problems(personas.colmado) == []
    assert Problem.objects.get(pk=row.problem.pk).resolution == ProblemResolution.SUCCEEDED


def test_every_portal_action_answers_a_reload_with_its_page(client, personas):
    client.force_login(personas.merchant_admin)
    merchant = personas.san_juan
    location = merchant.locations.first()
    for name, args, page in (
            ("portal:enable", [merchant.slug, "accounting.xero"], reverse("portal:catalog", args=[merchant.slug])),
            ("portal:card-events-acknowledge", [merchant.slug], reverse("portal:dashboard", args=[merchant.slug])),
            ("portal:terminal-revoke", [merchant.slug, 1], reverse("portal:terminals", args=[merchant.slug])),
            ("portal:pharmacy-relay-revoke", [merchant.slug, location.pk, 1],
             reverse("portal:pharmacy-location", args=[merchant.slug, location.pk])),
            ("language-set", [], "/")):
        response = client.get(reverse(name, args=args))
        assert (response.status_code, response["Location"]) == (302, page), name
    assert not merchant.integrations.exists()
