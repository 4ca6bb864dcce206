import pytest
from django.test import Client
from django.urls import reverse

from integrations.models import IntegrationDefinition, MerchantIntegration, Status
from partners.models import BulkAction, BulkJob, PartnerIntegrationTemplate
from partners.services import bulk
from tests.partners.conftest import add_stores


@pytest.fixture
def partner_client(client, personas):
    client.force_login(personas.partner_admin)
    return client


def url(name, personas, *args):
    return reverse(f"portal:{name}", args=[personas.partner.slug, *args])


def test_a_partner_admin_makes_a_default_template_with_mappings_and_the_mark_moves_to_it(partner_client, personas):
    # given the existing default QuickBooks template
    old_default = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    page = partner_client.get(url("partner-template-new", personas), {"definition": "accounting.quickbooks_online"})
    assert page.status_code == 200 and "PaymentMethod" in page.content.decode()

    # when
    response = partner_client.post(url("partner-template-new", personas), {
        "definition": "accounting.quickbooks_online", "template_name": "Receipts", "is_default": "on",
        "posting": "sales_receipt", "map:PaymentMethod:CASH": " 35 ", "map:Revenue:SALES": "1"})

    # then
    assert response.status_code == 302
    template = PartnerIntegrationTemplate.objects.get(name="Receipts")
    assert template.is_default and template.default_configuration == {"posting": "sales_receipt"}
    assert {(row["source_code"], row["target_code"]) for row in template.default_mappings} == {("CASH", "35"),
                                                                                              ("SALES", "1")}
    old_default.refresh_from_db()
    assert not old_default.is_default
    assert "Receipts" in partner_client.get(url("partner-templates", personas)).content.decode()


@pytest.mark.parametrize("posted, message", [
    ({"poll_every_minutes": "soon"}, "Must be a whole number."),
    ({"company": "4111 1111 1111 1111"}, "looks like card data"),
])
def test_a_template_whose_configuration_is_refused_shows_why_and_stores_nothing(partner_client, personas, posted,
                                                                                 message):
    response = partner_client.post(url("partner-template-new", personas), {
        "definition": "erp.acumatica", "template_name": "Broken", **posted})
    assert response.status_code == 422 and message in response.content.decode()
    assert "4111 1111 1111 1111" not in response.content.decode()
    assert not PartnerIntegrationTemplate.objects.filter(name="Broken").exists()


def test_a_template_for_a_planned_integration_is_not_offered(partner_client, personas):
    response = partner_client.get(url("partner-template-new", personas), {"definition": "erp.sap_b1"})
    assert response.status_code == 302
    assert "SAP" not in partner_client.get(url("partner-templates", personas)).content.decode()


def test_a_dry_run_from_the_portal_lists_every_stores_outcome(partner_client, personas):
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    add_stores(personas.partner, 3, prefix="portal")
    form = partner_client.get(url("bulk-job-new", personas), {"template": template.pk})
    assert form.status_code == 200 and "Portal 002" in form.content.decode()

    response = partner_client.post(url("bulk-job-new", personas), {
        "action": "enable", "template": template.pk, "stores": "all", "first_wave_size": "2", "halt_percent": "20",
        "dry_run": "1"})

    job = BulkJob.objects.get()
    assert response.status_code == 302 and response["Location"] == url("bulk-job", personas, job.pk)
    assert job.dry_run and job.total == personas.partner.merchants.count() and job.first_wave_size == 2
    bulk.bulk_job_run(job_id=job.pk)  # what the worker does with the queued job
    page = partner_client.get(url("bulk-job", personas, job.pk)).content.decode()
    would = job.total - template.definition.installations.filter(merchant__partner=personas.partner).count()
    assert f"Would be enabled: {would}" in page and f"Roll out to the {would} stores that would change" in page
    assert "Portal 002" in page
    progress = partner_client.get(url("bulk-job-progress", personas, job.pk), HTTP_HX_REQUEST="true").content.decode()
    assert "Portal 002" in progress and "hx-trigger" not in progress  # finished: the polling stops


def test_the_job_form_shows_what_each_store_has_now_even_per_location(partner_client, personas, relay_template):
    # given a store with the relay at both its locations, one of them paused since
    stores = add_stores(personas.partner, 1, prefix="twice", modules=["pharmacy.rx"], locations=2)
    bulk.bulk_job_run(job_id=bulk.bulk_job_create(
        partner=personas.partner, action=BulkAction.ENABLE, template=relay_template, merchant_ids=[stores[0].pk],
        by=personas.partner_admin, dry_run=False).pk)
    MerchantIntegration.objects.filter(merchant=stores[0], location__code="L1").update(status=Status.PAUSED)

    page = partner_client.get(url("bulk-job-new", personas), {"template": relay_template.pk}).content.decode()

    row = page[page.index("Twice 000"):].split("</tr>")[0]
    assert "status-configuring" in row or "status-active" in row
    assert "Paused" in row and "not enabled" not in row


def test_a_second_job_from_the_portal_is_refused_with_a_link_to_the_running_one(partner_client, personas):
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    running = bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=template,
                                   merchant_ids=[personas.san_juan.pk], by=personas.partner_admin, dry_run=False)

    response = partner_client.post(url("bulk-job-new", personas), {
        "action": "enable", "template": template.pk, "stores": "all", "dry_run": "0"}, follow=True)

    assert response.redirect_chain[-1][0] == url("bulk-job", personas, running.pk)
    assert f"already running (job {running.pk})" in response.content.decode()
    assert BulkJob.objects.count() == 1


def test_a_job_form_with_no_store_ticked_says_so(partner_client, personas):
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    response = partner_client.post(url("bulk-job-new", personas), {
        "action": "enable", "template": template.pk, "stores": "chosen", "dry_run": "1"})
    assert response.status_code == 422 and "Choose at least one store." in response.content.decode()
    assert not BulkJob.objects.exists()


@pytest.mark.security
def test_another_partners_templates_and_jobs_answer_404(client, personas, other_partner):
    theirs = add_stores(other_partner, 1, prefix="theirs")
    definition = IntegrationDefinition.objects.get(code="accounting.xero")
    template = PartnerIntegrationTemplate.objects.create(partner=other_partner, definition=definition, name="Theirs")
    job = bulk.bulk_job_create(partner=other_partner, action=BulkAction.ENABLE, template=template,
                               merchant_ids=[theirs[0].pk], by=None, dry_run=True)
    client.force_login(personas.partner_admin)
    slug = personas.partner.slug
    for path in (reverse("portal:partner-template", args=[slug, template.pk]),
                 reverse("portal:bulk-job", args=[slug, job.pk]),
                 reverse("portal:bulk-job-progress", args=[slug, job.pk]),
                 reverse("portal:partner-templates", args=[other_partner.slug]),
                 reverse("portal:bulk-job", args=[other_partner.slug, job.pk])):
        assert client.get(path).status_code == 404, path
    assert client.get(reverse("portal:bulk-job-new", args=[slug]), {"template": template.pk}).status_code == 404
    assert client.post(reverse("portal:bulk-job-follow-up", args=[slug, job.pk])).status_code == 404
    assert BulkJob.objects.count() == 1


@pytest.mark.security
def test_a_merchant_admin_reaching_partner_pages_gets_404(client, personas):
    client.force_login(personas.merchant_admin)
    for name in ("partner-templates", "bulk-jobs", "bulk-job-new", "partner"):
        assert client.get(url(name, personas)).status_code == 404, name


@pytest.mark.security
def test_every_partner_form_needs_its_csrf_token(personas):
    template = PartnerIntegrationTemplate.objects.get(partner=personas.partner, is_default=True)
    job = bulk.bulk_job_create(partner=personas.partner, action=BulkAction.ENABLE, template=template,
                               merchant_ids=[personas.san_juan.pk], by=None, dry_run=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(personas.partner_admin)
    for path, data in ((url("partner-template-new", personas), {"definition": "accounting.xero", "template_name": "X"}),
                       (url("partner-template", personas, template.pk), {"template_name": "Renamed"}),
                       (url("bulk-job-new", personas), {"template": template.pk, "stores": "all", "dry_run": "1"}),
                       (url("bulk-job-follow-up", personas, job.pk), {})):
        assert client.post(path, data).status_code == 403, path
    assert BulkJob.objects.count() == 1 and not PartnerIntegrationTemplate.objects.filter(name__in=["X", "Renamed"])
