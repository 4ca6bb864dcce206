"""An integration's page and what is done on it: configuration, credentials, the connection test,
activate / pause / resume / disconnect, a failed delivery sent again, and the file export."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from events import replay
from integrations import inbox, selectors
from integrations.access import integration_or_404
from integrations.connectors.iif import UnmappedCodes
from integrations.connectors.registry import connects_with_oauth, described_by
from integrations.models import IntegrationDefinition
from integrations.schema_forms import schema_fields, values_from_post
from integrations.services import configuring, problems, transitions
from integrations.services import mappings as mapping_service
from integrations.services.exports import exports_files, integration_export
from qiiub.card_redaction import without_card_data
from qiiub.errors import ValidationFailed
from qiiub.messages import stored_text
from qiiub.refusals import post_on_integration_page, refusal_on_integration_page


def integration_url(integration) -> str:
    return reverse("portal:integration", args=[integration.merchant.slug, integration.pk])


def _render_detail(request, integration, *, config_errors=None, config_values=None, credential_errors=None,
                   export_unmapped=None, activation_unmapped=None, status=200):
    definition: IntegrationDefinition = integration.definition
    connector = described_by(definition.pk)
    context = {
        "merchant": integration.merchant,
        "integration": integration,
        "summary": selectors.integrations_for_merchant(integration.merchant).get(pk=integration.pk),
        "standing": inbox.standing(integration, request.user),
        "problems": inbox.open_problems(integration.merchant, integration=integration),
        "last_test_error": stored_text(integration.last_test_error),
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
        "activation_unmapped": activation_unmapped,
        "panel_template": connector.panel_template,
        **connector.panel_context(integration),
    }
    return render(request, "integrations/detail.html", context, status=status)


@login_required
def detail(request, merchant_slug: str, integration_id: int):
    return _render_detail(request, integration_or_404(request.user, merchant_slug, integration_id))


def _schema_form_post(request, merchant_slug, integration_id, *, schema_of, save, errors_as, success_message):
    """Rebuild JSON from a schema-generated form, save it through `save`, re-render errors inline
    (422; the action's address answers a reload or Back with the page, never a blank 405)."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    values = values_from_post(schema_of(integration.definition), request.POST)
    try:
        save(integration=integration, values=values, by=request.user)
    except ValidationFailed as error:
        messages.error(request, error.message)
        return _render_detail(request, integration, status=422, **errors_as(error, values))
    messages.success(request, str(success_message))
    return redirect(integration_url(integration))


@login_required
@post_on_integration_page
@refusal_on_integration_page
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
@post_on_integration_page
@refusal_on_integration_page
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
@post_on_integration_page
@refusal_on_integration_page
def test_connection(request, merchant_slug: str, integration_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    failure = configuring.merchant_integration_test_connection(integration=integration, by=request.user)
    if failure is None:
        messages.success(request, _("Connection test passed."))
    else:
        messages.error(request, _("Connection test failed: %(message)s") % {"message": failure.message})
    return redirect(integration_url(integration))


def _simple_action(service, success_message):
    @login_required
    @post_on_integration_page
    @refusal_on_integration_page
    def view(request, merchant_slug: str, integration_id: int):
        integration = integration_or_404(request.user, merchant_slug, integration_id)
        service(integration=integration, by=request.user)
        messages.success(request, str(success_message))
        return redirect(integration_url(integration))

    return view


@login_required
@post_on_integration_page
@refusal_on_integration_page
def activate(request, merchant_slug: str, integration_id: int):
    """Activate; when recent sales use codes with no mapping, first say which (their days would wait)
    and activate only once the merchant confirms."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    unmapped = mapping_service.unmapped_codes_in_use(integration)
    if unmapped and request.POST.get("confirmed") != "1":
        return _render_detail(request, integration, activation_unmapped=[f"{group} {code}" for group, code in unmapped])
    try:
        transitions.merchant_integration_activate(integration=integration, by=request.user)
    except ValidationFailed as error:  # the configuration went stale: mark its fields
        messages.error(request, error.message)
        return _render_detail(request, integration, config_errors=error.field_errors, status=422)
    messages.success(request, _("Integration active: syncing has started."))
    return redirect(integration_url(integration))


pause = _simple_action(transitions.merchant_integration_pause, gettext_lazy("Integration paused. Nothing is lost while paused."))
resume = _simple_action(transitions.merchant_integration_resume, gettext_lazy("Integration resumed."))
disconnect = _simple_action(
    configuring.merchant_integration_disconnect,
    gettext_lazy("Integration disconnected; credentials removed. Settings, mappings and sync position are kept."),
)


@login_required
@post_on_integration_page
@refusal_on_integration_page
def retry_delivery(request, merchant_slug: str, integration_id: int, delivery_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    delivery = get_object_or_404(integration.deliveries, pk=delivery_id)
    replay.delivery_replay(delivery=delivery, by=request.user)
    messages.success(request, _("Delivery scheduled again."))
    return redirect(integration_url(integration))


@login_required
@post_on_integration_page
@refusal_on_integration_page
def retry_dead_deliveries(request, merchant_slug: str, integration_id: int):
    """The inbox's fix for deliveries that ran out of attempts: send them all again."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    count = problems.dead_deliveries_retry(integration=integration, by=request.user)
    messages.success(request, ngettext("%(count)d delivery scheduled again.", "%(count)d deliveries scheduled again.",
                                       count) % {"count": count})
    if request.POST.get("from") == "issues":
        return redirect("portal:issues", merchant_slug)
    return redirect(integration_url(integration))


def _default_export_period(integration) -> dict:
    """What the download form offers first, in the merchant's days: the connector says which."""
    today = timezone.now().astimezone(ZoneInfo(integration.merchant.time_zone)).date()
    start, end = described_by(integration.definition_id).default_export_period(today)
    return {"start": start, "end": end}


@login_required
@post_on_integration_page
@refusal_on_integration_page
def export_file(request, merchant_slug: str, integration_id: int):
    """Download a period's export: the general-journal IIF (QuickBooks Desktop), the IVU return (SURI)."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    if not exports_files(integration):
        raise Http404("This integration has no file export.")
    try:
        start, end = (date.fromisoformat(request.POST.get(name, "")) for name in ("start", "end"))
    except ValueError:
        messages.error(request, _("Choose the first and last day of the period."))
        return redirect(integration_url(integration))
    try:
        export = integration_export(integration=integration, start=start, end=end, by=request.user,
                                    skip_unmapped=request.POST.get("skip_unmapped") == "1")
    except UnmappedCodes as refusal:
        # Asked, not refused outright: the page names the codes and offers the mapped days alone.
        return _render_detail(request, integration, status=409,
                              export_unmapped={"refusal": refusal, "start": start, "end": end})
    response = HttpResponse(export.text, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response
