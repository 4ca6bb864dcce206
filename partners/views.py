"""Partner admin pages: integration templates and bulk jobs. Thin: parse, call a service, render."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from integrations import inbox
from integrations.models import Category, IntegrationDefinition, MerchantIntegration, Status
from integrations.schema_forms import schema_fields, values_from_post
from integrations.selectors import partner_health
from integrations.services.mappings import mapping_codes, mapping_target_hint
from merchants.access import partner_or_404
from partners.models import BulkAction, BulkJob, BulkOutcome, PartnerIntegrationTemplate
from partners.services import bulk, outreach
from partners.services.templates import template_definitions, template_save
from qiiub.card_redaction import without_card_data
from qiiub.errors import ApplicationError, ValidationFailed
from qiiub.refusals import back_to, post_or_back_to

OUTCOMES_PER_PAGE = 100
# What a dry run's outcomes say: what would happen, not what did.
DRY_RUN_LABELS = {BulkOutcome.ENABLED: gettext_lazy("Would be enabled"), BulkOutcome.PAUSED: gettext_lazy("Would be paused"),
                  BulkOutcome.RESUMED: gettext_lazy("Would be resumed")}


def _template_or_404(partner, template_id: int) -> PartnerIntegrationTemplate:
    template = partner.integration_templates.select_related("definition").filter(pk=template_id).first()
    if template is None:
        raise Http404("No such template.")
    return template


def _job_or_404(partner, job_id: int) -> BulkJob:
    job = partner.bulk_jobs.select_related("definition", "template", "created_by").filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    return job


@login_required
def partner_dashboard(request, partner_slug: str):
    """All of a partner's stores' integrations, worst first, with counts and grouped failures."""
    partner = partner_or_404(request.user, partner_slug)
    page_text = request.GET.get("page", "1")
    page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
    filters = {"status": request.GET.get("status", ""), "code": request.GET.get("code", ""),
               "search": request.GET.get("q", "").strip()[:100]}
    health = partner_health(partner, page=page, **filters)
    return render(request, "partners/dashboard.html", {
        "partner": partner, "health": health, "page": page, "filters": filters,
        "problems": inbox.partner_problems(partner),
        "statuses": [choice for choice in Status.choices if choice[0] != Status.DISCONNECTED],
        "definitions": IntegrationDefinition.objects.filter(installations__merchant__partner=partner)
        .distinct().order_by("name").values_list("code", "name")})


@login_required
def partner_issues(request, partner_slug: str):
    """The partner's Issues inbox: open problems grouped across stores, and coverage gaps."""
    partner = partner_or_404(request.user, partner_slug)
    coverage = inbox.partner_coverage(partner)
    return render(request, "partners/issues.html", {
        "partner": partner, "problems": inbox.partner_problems(partner), "coverage": coverage,
        "gaps": [(topic, label, coverage.without[topic]) for topic, label in
                 ((Category.ACCOUNTING, _("Stores with no accounting integration")),
                  (Category.TAX, _("Stores with no tax filing")))]})


@login_required
@post_or_back_to(back_to("portal:partner-issues", "partner_slug"))
def partner_remind(request, partner_slug: str):
    partner = partner_or_404(request.user, partner_slug)
    try:
        count = outreach.store_admins_remind(partner=partner, topic=request.POST.get("topic", ""), by=request.user,
                                             base_url=request.build_absolute_uri("/"))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, ngettext("The admins of %(count)d store were emailed.",
                                           "The admins of %(count)d stores were emailed.", count) % {"count": count})
    return redirect("portal:partner-issues", partner.slug)


@login_required
def template_list(request, partner_slug: str):
    partner = partner_or_404(request.user, partner_slug)
    return render(request, "partners/templates.html", {
        "partner": partner,
        "templates": partner.integration_templates.select_related("definition").order_by("definition__name", "name"),
        "definitions": template_definitions().order_by("name")})


def _mapping_rows(definition: IntegrationDefinition, rows: list[dict]) -> list[dict]:
    targets = {(row["map_group"], row["source_code"]): row["target_code"] for row in rows}
    return [{"group": group, "code": code, "target": targets.get((group, code), "")}
            for group, codes in mapping_codes(definition.code).items() for code in codes]


@login_required
def template_edit(request, partner_slug: str, template_id: int | None = None):
    """New (`?definition=<code>`) or existing template: the definition's configuration form and,
    for accounting integrations, a target per code to map."""
    partner = partner_or_404(request.user, partner_slug)
    template = _template_or_404(partner, template_id) if template_id else None
    if template:
        definition = template.definition
    else:
        definition = template_definitions().filter(code=request.GET.get("definition") or request.POST.get("definition"))\
            .first()
        if definition is None:
            messages.error(request, _("Choose the integration the template is for."))
            return redirect("portal:partner-templates", partner.slug)
    context = {"partner": partner, "template": template, "definition": definition,
               "name": template.name if template else _("Standard %(name)s") % {"name": definition.name},
               "is_default": template.is_default if template else not partner.integration_templates.filter(
                   definition=definition, is_default=True).exists()}
    configuration = template.default_configuration if template else {}
    mappings = template.default_mappings if template else []
    errors: dict = {}
    status = 200
    if request.method == "POST":
        configuration = values_from_post(definition.configuration_schema, request.POST)
        mappings = [{"map_group": group, "source_code": code, "target_code": request.POST.get(f"map:{group}:{code}", "")}
                    for group, codes in mapping_codes(definition.code).items() for code in codes]
        context |= {"name": request.POST.get("template_name", ""), "is_default": bool(request.POST.get("is_default"))}
        try:
            template = template_save(partner=partner, definition=definition, name=context["name"],
                                     configuration=configuration, mappings=mappings, is_default=context["is_default"],
                                     template=template, by=request.user)
        except ValidationFailed as error:
            messages.error(request, error.message)
            errors, status = error.field_errors, 422
            # The form comes back without card data, whichever check refused it.
            configuration, mappings = without_card_data(configuration), without_card_data(mappings)
            context["name"] = without_card_data(context["name"])
        else:
            messages.success(request, _("Template '%(name)s' saved.") % {"name": template.name})
            return redirect("portal:partner-templates", partner.slug)
    context |= {"config_fields": schema_fields(definition.configuration_schema, configuration, errors),
                "mapping_rows": _mapping_rows(definition, mappings), "errors": errors,
                "mapping_target": mapping_target_hint(definition.code)}
    return render(request, "partners/template_form.html", context, status=status)


@login_required
def bulk_jobs(request, partner_slug: str):
    partner = partner_or_404(request.user, partner_slug)
    return render(request, "partners/bulk_jobs.html", {
        "partner": partner, "jobs": partner.bulk_jobs.select_related("definition", "template")[:50],
        "templates": partner.integration_templates.select_related("definition").order_by("definition__name", "name"),
        "definitions": IntegrationDefinition.objects.filter(installations__merchant__partner=partner)
        .distinct().order_by("name")})


def _job_target(request, partner):
    """(action, template, definition) named by the form or the query string, within the partner."""
    source = request.POST if request.method == "POST" else request.GET
    action = source.get("action") or BulkAction.ENABLE
    template = None
    if source.get("template"):
        try:
            template = _template_or_404(partner, int(source["template"]))
        except ValueError:
            raise Http404("No such template.") from None
    definition = template.definition if template else IntegrationDefinition.objects.filter(
        code=source.get("definition", "")).first()
    return action, template, definition


@login_required
def bulk_job_new(request, partner_slug: str):
    partner = partner_or_404(request.user, partner_slug)
    action, template, definition = _job_target(request, partner)
    if definition is None or action not in BulkAction.values or (action == BulkAction.ENABLE and template is None):
        messages.error(request, _("Choose a template to enable, or an integration to pause or resume."))
        return redirect("portal:bulk-jobs", partner.slug)
    status = 200
    chosen = set(request.POST.getlist("merchant"))
    if request.method == "POST":
        stores = request.POST.get("stores")
        merchant_ids = list(partner.merchants.values_list("pk", flat=True)) if stores == "all" else \
            [value for value in chosen if value.isdigit()]
        try:
            job = bulk.bulk_job_create(
                partner=partner, action=action, template=template, definition=definition, merchant_ids=merchant_ids,
                dry_run=request.POST.get("dry_run") == "1", by=request.user,
                reenable_disconnected=request.POST.get("reenable_disconnected") == "1",
                first_wave_size=int(request.POST.get("first_wave_size") or bulk.FIRST_WAVE_SIZE),
                halt_failure_rate=Decimal(request.POST.get("halt_percent") or 20) / 100)
        except bulk.JobRunning as error:
            messages.error(request, error.message)
            return redirect("portal:bulk-job", partner.slug, error.job.pk)
        except (ValueError, InvalidOperation):
            messages.error(request, _("The first wave and the halt threshold are whole numbers."))
            status = 422
        except ApplicationError as error:
            messages.error(request, error.message)
            status = 422
        else:
            return redirect("portal:bulk-job", partner.slug, job.pk)
    # What each store has now: one installation, or one per location (Rx30), counted by status.
    states = defaultdict(list)
    for merchant_id, state, count in (
            MerchantIntegration.objects.filter(definition=definition, merchant__partner=partner)
            .values_list("merchant_id", "status").annotate(count=Count("id")).order_by("merchant_id", "status")):
        states[merchant_id].append({"status": state, "label": Status(state).label, "count": count})
    stores = [{"merchant": merchant, "states": states.get(merchant.pk, []), "chosen": str(merchant.pk) in chosen}
              for merchant in partner.merchants.order_by("name")]
    return render(request, "partners/bulk_job_new.html", {
        "partner": partner, "action": action, "action_label": BulkAction(action).label, "template": template,
        "definition": definition, "stores": stores, "running": bulk.running_job(partner, definition),
        "first_wave_size": request.POST.get("first_wave_size", bulk.FIRST_WAVE_SIZE),
        "reenable_disconnected": request.POST.get("reenable_disconnected") == "1",
        "halt_percent": request.POST.get("halt_percent", int(bulk.HALT_FAILURE_RATE * 100))}, status=status)


def _job_page(request, job: BulkJob, template: str):
    outcome = request.GET.get("outcome", "")
    stores = job.stores.select_related("merchant")
    if outcome in BulkOutcome.values:
        stores = stores.filter(outcome=outcome)
    page = Paginator(stores, OUTCOMES_PER_PAGE).get_page(request.GET.get("page"))
    counts = dict(job.stores.values_list("outcome").annotate(count=Count("id")).order_by())
    return render(request, template, {
        "job": job, "partner": job.partner, "page": page, "outcome": outcome,
        "labels": DRY_RUN_LABELS if job.dry_run else {}, "halt_percent": int(job.halt_failure_rate * 100),
        "progress_url": reverse("portal:bulk-job-progress", args=[job.partner.slug, job.pk])
        + (f"?{request.GET.urlencode()}" if request.GET else ""),
        "counts": [(value, label, counts[value]) for value, label in BulkOutcome.choices if counts.get(value)],
        "follow_up": bulk.follow_up(job)})


@login_required
def bulk_job(request, partner_slug: str, job_id: int):
    return _job_page(request, _job_or_404(partner_or_404(request.user, partner_slug), job_id), "partners/bulk_job.html")


@login_required
def bulk_job_progress(request, partner_slug: str, job_id: int):
    """The job's progress and outcomes alone, polled by htmx until the job finishes."""
    return _job_page(request, _job_or_404(partner_or_404(request.user, partner_slug), job_id),
                     "partners/_bulk_job_body.html")


@login_required
@post_or_back_to(back_to("portal:bulk-job", "partner_slug", "job_id"))
def bulk_job_follow_up(request, partner_slug: str, job_id: int):
    partner = partner_or_404(request.user, partner_slug)
    try:
        job = bulk.bulk_job_follow_up(job=_job_or_404(partner, job_id), by=request.user)
    except bulk.JobRunning as error:
        messages.error(request, error.message)
        return redirect("portal:bulk-job", partner.slug, error.job.pk)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("portal:bulk-job", partner.slug, job_id)
    return redirect("portal:bulk-job", partner.slug, job.pk)

