"""The mapping editor: our codes to the vendor's accounts (picked from its chart where the
connector reads one), saved row by row."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from integrations.access import integration_or_404
from integrations.services import mappings as mapping_service
from qiiub.card_redaction import without_card_data
from qiiub.errors import ApplicationError
from qiiub.refusals import back_to, post_or_back_to


@login_required
@require_http_methods(["GET", "POST"])
def mappings(request, merchant_slug: str, integration_id: int):
    """The editor; a POST with action=refresh reads the vendor's chart of accounts again."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    if not mapping_service.uses_mappings(integration):
        raise Http404("This integration has no mappings.")
    if request.method == "POST":
        if request.POST.get("action") != "refresh":
            return HttpResponseBadRequest("Unknown action.")
        try:
            accounts = mapping_service.chart_refresh(integration)
            messages.success(request, ngettext("%(count)s account read from %(vendor)s.",
                                               "%(count)s accounts read from %(vendor)s.", len(accounts))
                             % {"count": len(accounts), "vendor": integration.definition.name})
        except ApplicationError as failure:
            messages.error(request, failure.message)
        return redirect("portal:mappings", integration.merchant.slug, integration.pk)
    return render(request, "integrations/mappings.html", {
        "merchant": integration.merchant, "integration": integration, "editor": mapping_service.mapping_editor(integration),
        "target_hint": mapping_service.mapping_target_hint(integration.definition.code)})


@login_required
@post_or_back_to(back_to("portal:mappings", "merchant_slug", "integration_id"))
def mapping_set(request, merchant_slug: str, integration_id: int):
    """Save one row. From htmx, answers that row (422 with the error); otherwise back to the page."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    group, code, target = (request.POST.get(name, "") for name in ("group", "code", "target"))
    try:
        row = mapping_service.mapping_set(integration=integration, group=group, code=code, target=target, by=request.user)
        error = ""
    except ApplicationError as failure:
        shown = without_card_data({"group": group, "code": code.strip().upper()})
        row, error = mapping_service.mapping_row(integration, group=shown["group"], code=shown["code"]), failure.message
    if request.headers.get("HX-Request"):
        editor = mapping_service.mapping_editor(integration, rows=[row])
        return render(request, "integrations/_mapping_row.html",
                      {"merchant": integration.merchant, "integration": integration, "editor": editor,
                       "row": editor.rows[0], "error": error, "saved": not error}, status=422 if error else 200)
    if error:
        messages.error(request, error)
    else:
        if row.target:
            messages.success(request, _("%(group)s %(code)s mapped to %(target)s.")
                             % {"group": row.group, "code": row.code, "target": row.target})
        else:
            messages.success(request, _("%(group)s %(code)s unmapped.") % {"group": row.group, "code": row.code})
    return redirect("portal:mappings", integration.merchant.slug, integration.pk)
