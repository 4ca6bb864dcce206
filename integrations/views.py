"""Merchant admin pages: catalog, enable, configure, credentials, test, activate, pause/resume/disconnect.

Thin: parse input, check scope (qiiub.access), call one service, render or redirect.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from compliance.selectors import delivered_card_events
from integrations import selectors
from integrations.connectors.registry import connector_class_for_definition, connects_with_oauth
from integrations.events import services as events
from integrations.models import IntegrationDefinition, MerchantIntegration
from integrations.schema_forms import schema_fields, values_from_post
from integrations.services import configuring, enabling, transitions
from integrations.services import mappings as mapping_service
from qiiub.access import integration_or_404, merchant_or_404, merchants_for
from qiiub.card_guard import ensure_no_card_data
from qiiub.card_redaction import without_card_data
from qiiub.errors import ApplicationError, CardDataRejected, ValidationFailed


def _detail_url(integration) -> str:
    return reverse("portal:integration", args=[integration.merchant.slug, integration.pk])


@login_required
def merchant_dashboard(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    integrations = list(selectors.integrations_for_merchant(merchant))
    for item in integrations:
        item.next_step = selectors.next_step(item)
    return render(request, "integrations/dashboard.html", {
        "merchant": merchant, "integrations": integrations, "card_events": delivered_card_events(merchant),
    })


@login_required
def catalog(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    enabled = {
        (row.definition_id, row.location_id): row
        for row in merchant.integrations.exclude(status="disconnected").select_related("location")
    }
    entries = []
    for definition in selectors.catalog_for_merchant(merchant):
        installed = [row for (definition_id, _location_id), row in enabled.items() if definition_id == definition.pk]
        entries.append(
            {
                "definition": definition,
                "installed": installed,
                "refusal": enabling.definition_refusal(merchant=merchant, definition=definition),
            }
        )
    return render(
        request,
        "integrations/catalog.html",
        {"merchant": merchant, "entries": entries, "locations": merchant.locations.order_by("name")},
    )


@login_required
@require_POST
def enable(request, merchant_slug: str, code: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    # Any known code: the service explains why one outside this merchant's catalog can't be enabled.
    definition = get_object_or_404(IntegrationDefinition, code=code)
    location = None
    if location_id := request.POST.get("location", ""):
        if not location_id.isdigit():
            raise Http404("No such location.")
        location = get_object_or_404(merchant.locations, pk=location_id)
    try:
        integration = enabling.merchant_integration_enable(
            merchant=merchant, definition=definition, location=location, by=request.user
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("portal:catalog", merchant.slug)
    messages.success(request, _("%(name)s enabled. Check the configuration, then enter the credentials.") % {"name": definition.name})
    return redirect(_detail_url(integration))


def _render_detail(request, integration, *, config_errors=None, config_values=None, credential_errors=None,
                   export_unmapped=None, status=200):
    definition: IntegrationDefinition = integration.definition
    connector = connector_class_for_definition(definition.pk)
    context = {
        "merchant": integration.merchant,
        "integration": integration,
        "summary": selectors.integrations_for_merchant(integration.merchant).get(pk=integration.pk),
        "config_fields": schema_fields(
            definition.configuration_schema,
            config_values if config_values is not None else integration.configuration,
            config_errors,
        ),
        "credential_fields": schema_fields(definition.credentials_schema, None, credential_errors, secret=True),
        "connects_with_oauth": connects_with_oauth(definition.pk),
        "can_sync_now": bool({"poll", "scheduled_batch"} & connector.capabilities),
        "uses_mappings": mapping_service.uses_mappings(integration),
        "unmapped_count": sum(row.missing for row in mapping_service.mapping_rows(integration))
        if mapping_service.uses_mappings(integration) else 0,
        "sync_logs": integration.sync_logs.all()[:20],
        "transitions": integration.transitions.select_related("actor")[:20],
        "failed_deliveries": selectors.failed_deliveries(integration)[:50],
        "exports_files": "file_export" in connector.capabilities,
        "export_help": connector.export_help,
        "export_button": connector.export_button,
        "export_default": export_unmapped or _default_export_period(integration),
        "export_unmapped": export_unmapped,
        "panel_template": connector.panel_template,
        **connector.panel_context(integration),
    }
    return render(request, "integrations/detail.html", context, status=status)


@login_required
def detail(request, merchant_slug: str, integration_id: int):
    return _render_detail(request, integration_or_404(request.user, merchant_slug, integration_id))


def _schema_form_post(request, merchant_slug, integration_id, *, schema_of, save, errors_as, success_message):
    """Rebuild JSON from a schema-generated form, save it through `save`, re-render errors inline."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    values = values_from_post(schema_of(integration.definition), request.POST)
    try:
        save(integration=integration, values=values, by=request.user)
    except ValidationFailed as error:
        messages.error(request, error.message)
        return _render_detail(request, integration, status=422, **errors_as(error, values))
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(_detail_url(integration))
    messages.success(request, str(success_message))
    return redirect(_detail_url(integration))


@login_required
@require_POST
def configure(request, merchant_slug: str, integration_id: int):
    return _schema_form_post(
        request,
        merchant_slug,
        integration_id,
        schema_of=lambda definition: definition.configuration_schema,
        save=lambda *, integration, values, by: configuring.merchant_integration_configure(
            integration=integration, configuration=values, by=by
        ),
        errors_as=lambda error, values: {
            "config_errors": error.field_errors,
            "config_values": without_card_data(values),
        },
        success_message=gettext_lazy("Configuration saved."),
    )


@login_required
@require_POST
def set_credentials(request, merchant_slug: str, integration_id: int):
    # Secrets typed in are never rendered back, even when the form has errors.
    return _schema_form_post(
        request,
        merchant_slug,
        integration_id,
        schema_of=lambda definition: definition.credentials_schema,
        save=lambda *, integration, values, by: configuring.merchant_integration_set_credentials(
            integration=integration, credentials=values, by=by
        ),
        errors_as=lambda error, values: {"credential_errors": error.field_errors},
        success_message=gettext_lazy("Credentials saved. Test the connection next."),
    )


@login_required
@require_POST
def test_connection(request, merchant_slug: str, integration_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    try:
        failure = configuring.merchant_integration_test_connection(integration=integration, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(_detail_url(integration))
    if failure is None:
        messages.success(request, _("Connection test passed."))
    else:
        messages.error(request, _("Connection test failed: %(message)s %(advice)s") % {"message": failure.message, "advice": failure.advice})
    return redirect(_detail_url(integration))


def _simple_action(service, success_message):
    @login_required
    @require_POST
    def view(request, merchant_slug: str, integration_id: int):
        integration = integration_or_404(request.user, merchant_slug, integration_id)
        try:
            service(integration=integration, by=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, str(success_message))
        return redirect(_detail_url(integration))

    return view


activate = _simple_action(transitions.merchant_integration_activate, gettext_lazy("Integration active: syncing has started."))
pause = _simple_action(transitions.merchant_integration_pause, gettext_lazy("Integration paused. Nothing is lost while paused."))
resume = _simple_action(transitions.merchant_integration_resume, gettext_lazy("Integration resumed."))
disconnect = _simple_action(
    configuring.merchant_integration_disconnect,
    gettext_lazy("Integration disconnected; credentials removed. Settings, mappings and sync position are kept."),
)


@login_required
@require_POST
def retry_delivery(request, merchant_slug: str, integration_id: int, delivery_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    delivery = get_object_or_404(integration.deliveries, pk=delivery_id)
    try:
        events.delivery_replay(delivery=delivery, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Delivery scheduled again."))
    return redirect(_detail_url(integration))


def _default_export_period(integration) -> dict:
    """What the download form offers first, in the merchant's days: the connector says which."""
    from zoneinfo import ZoneInfo

    today = timezone.now().astimezone(ZoneInfo(integration.merchant.time_zone)).date()
    start, end = connector_class_for_definition(integration.definition_id).default_export_period(today)
    return {"start": start, "end": end}


@login_required
@require_POST
def export_file(request, merchant_slug: str, integration_id: int):
    """Download a period's export: the general-journal IIF (QuickBooks Desktop), the IVU return (SURI)."""
    from integrations.services.exports import exports_files, integration_export
    from integrations.services.iif import UnmappedCodes

    integration = integration_or_404(request.user, merchant_slug, integration_id)
    if not exports_files(integration):
        raise Http404("This integration has no file export.")
    try:
        start, end = (date.fromisoformat(request.POST.get(name, "")) for name in ("start", "end"))
    except ValueError:
        messages.error(request, _("Choose the first and last day of the period."))
        return redirect(_detail_url(integration))
    try:
        export = integration_export(integration=integration, start=start, end=end, by=request.user,
                                    skip_unmapped=request.POST.get("skip_unmapped") == "1")
    except UnmappedCodes as refusal:
        # Asked, not refused outright: the page names the codes and offers the mapped days alone.
        return _render_detail(request, integration, status=409,
                              export_unmapped={"refusal": refusal, "start": start, "end": end})
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(_detail_url(integration))
    response = HttpResponse(export.text, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


def _oauth_redirect_uri(request) -> str:
    path = reverse("portal:oauth-callback")
    return f"{settings.PUBLIC_BASE_URL}{path}" if settings.PUBLIC_BASE_URL else request.build_absolute_uri(path)


@login_required
@require_POST
def oauth_connect(request, merchant_slug: str, integration_id: int):
    """Send the merchant admin to the vendor to approve the connection (connect or re-auth)."""
    from integrations.services import oauth

    integration = integration_or_404(request.user, merchant_slug, integration_id)
    try:
        url = oauth.oauth_start(integration=integration, session=request.session,
                                redirect_uri=_oauth_redirect_uri(request))
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect(_detail_url(integration))
    return redirect(url)


@login_required
def oauth_callback(request):
    """Where the vendor sends the admin back. Only a state this session started is accepted."""
    from integrations.services import oauth

    try:
        # Everything the vendor sends back is shown or stored (the reason of a refusal, the company id).
        ensure_no_card_data(request.GET.dict())
        integration_id = oauth.integration_for_state(state=request.GET.get("state", ""), session=request.session)
    except ApplicationError as error:
        return render(request, "integrations/oauth_refused.html", {"message": error.message},
                      status=error.http_status if isinstance(error, CardDataRejected) else 400)
    integration = get_object_or_404(
        MerchantIntegration.objects.filter(merchant__in=merchants_for(request.user)).select_related("definition", "merchant"),
        pk=integration_id,
    )
    if denied := request.GET.get("error"):
        messages.error(request, _("%(name)s was not connected (%(reason)s): nothing was changed.")
                       % {"name": integration.definition.name, "reason": denied})
        return redirect(_detail_url(integration))
    try:
        integration, failure = oauth.oauth_complete(
            integration=integration, code=request.GET.get("code", ""), company_id=request.GET.get("realmId", ""),
            redirect_uri=_oauth_redirect_uri(request), by=request.user,
        )
    except ApplicationError as error:
        messages.error(request, _("%(name)s was not connected: %(message)s")
                       % {"name": integration.definition.name, "message": error.message})
        return redirect(_detail_url(integration))
    if failure is None:
        messages.success(request, _("%(name)s connected and tested.") % {"name": integration.definition.name})
    else:
        messages.error(request, _("%(name)s connected, but the connection test failed: %(message)s %(advice)s") % {
            "name": integration.definition.name, "message": failure.message, "advice": failure.advice})
    return redirect(_detail_url(integration))


@login_required
@require_POST
def ivu_mark_filed(request, merchant_slug: str, integration_id: int, filing_id: int):
    from taxes.filings import filing_mark_filed

    integration = integration_or_404(request.user, merchant_slug, integration_id)
    filing = get_object_or_404(integration.merchant.ivu_filings, pk=filing_id)
    try:
        filing_mark_filed(filing=filing, confirmation=request.POST.get("confirmation", ""), by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The IVU return for %(month)s is marked filed.")
                         % {"month": date_format(filing.period, "YEAR_MONTH_FORMAT")})
    return redirect(_detail_url(integration) + "#ivu-filings")


@login_required
def mappings(request, merchant_slug: str, integration_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    if not mapping_service.uses_mappings(integration):
        raise Http404("This integration has no mappings.")
    return render(request, "integrations/mappings.html", {
        "merchant": integration.merchant, "integration": integration, "rows": mapping_service.mapping_rows(integration),
        "target_hint": mapping_service.mapping_target_hint(integration.definition.code)})


@login_required
@require_POST
def mapping_set(request, merchant_slug: str, integration_id: int):
    """Save one row. From htmx, answers that row (422 with the error); otherwise back to the page."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    group, code, target = (request.POST.get(name, "") for name in ("group", "code", "target"))
    try:
        row = mapping_service.mapping_set(integration=integration, group=group, code=code, target=target, by=request.user)
        error = ""
    except ApplicationError as failure:
        shown = without_card_data({"group": group, "code": code.strip().upper()})
        row, error = mapping_service.MappingRow(shown["group"], shown["code"], "", False), failure.message
    if request.headers.get("HX-Request"):
        return render(request, "integrations/_mapping_row.html",
                      {"merchant": integration.merchant, "integration": integration, "row": row, "error": error,
                       "saved": not error}, status=422 if error else 200)
    if error:
        messages.error(request, error)
    else:
        if row.target:
            messages.success(request, _("%(group)s %(code)s mapped to %(target)s.")
                             % {"group": row.group, "code": row.code, "target": row.target})
        else:
            messages.success(request, _("%(group)s %(code)s unmapped.") % {"group": row.group, "code": row.code})
    return redirect("portal:mappings", integration.merchant.slug, integration.pk)


@login_required
@require_POST
def sync_now(request, merchant_slug: str, integration_id: int):
    from integrations.services.sync import merchant_integration_sync_soon

    integration = integration_or_404(request.user, merchant_slug, integration_id)
    try:
        merchant_integration_sync_soon(integration=integration)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Sync started: its result shows in the sync log in a moment."))
    return redirect(_detail_url(integration))


SYNC_LOG_PAGE = 50


@login_required
def sync_logs(request, merchant_slug: str, integration_id: int):
    from integrations.models import SyncStatus

    integration = integration_or_404(request.user, merchant_slug, integration_id)
    logs = integration.sync_logs.order_by("-started_at")
    status = request.GET.get("status", "")
    if status in SyncStatus.values:
        logs = logs.filter(status=status)
    since_text = request.GET.get("since", "")
    try:
        since = date.fromisoformat(since_text) if since_text else None
    except ValueError:
        since = None
        messages.error(request, _("The date must look like 2026-11-24."))
    if since is not None:
        logs = logs.filter(started_at__date__gte=since)
    page = max(1, int(request.GET.get("page", "1"))) if request.GET.get("page", "1").isdigit() else 1
    window = list(logs[(page - 1) * SYNC_LOG_PAGE: page * SYNC_LOG_PAGE + 1])
    return render(request, "integrations/sync_logs.html", {
        "merchant": integration.merchant, "integration": integration, "logs": window[:SYNC_LOG_PAGE],
        "more": len(window) > SYNC_LOG_PAGE, "page": page, "status": status, "since": since_text,
        "statuses": SyncStatus.choices})


@login_required
def sync_log(request, merchant_slug: str, integration_id: int, log_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    log = get_object_or_404(integration.sync_logs, pk=log_id)
    return render(request, "integrations/sync_log.html", {
        "merchant": integration.merchant, "integration": integration, "log": log,
        "errors": [line for line in log.error_summary.splitlines() if line.strip()]})


@login_required
def partner_dashboard(request, partner_slug: str):
    """All of a partner's stores' integrations, worst first, with counts and grouped failures."""
    from integrations.models import Status
    from qiiub.access import partner_or_404

    partner = partner_or_404(request.user, partner_slug)
    page_text = request.GET.get("page", "1")
    page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
    filters = {"status": request.GET.get("status", ""), "code": request.GET.get("code", ""),
               "search": request.GET.get("q", "").strip()[:100]}
    health = selectors.partner_health(partner, page=page, **filters)
    return render(request, "integrations/partner_dashboard.html", {
        "partner": partner, "health": health, "page": page, "filters": filters,
        "statuses": [choice for choice in Status.choices if choice[0] != Status.DISCONNECTED],
        "definitions": IntegrationDefinition.objects.filter(installations__merchant__partner=partner)
        .distinct().order_by("name").values_list("code", "name")})


def system_health(request):
    """SystemAdmin dashboard (served inside the Django admin, staff only)."""
    from django.contrib import admin

    from integrations.models import Status

    return render(request, "admin/system_health.html", {
        **admin.site.each_context(request), "title": _("Integration health"), "health": selectors.system_health(),
        "statuses": [choice for choice in Status.choices if choice[0] != Status.DISCONNECTED]})
