"""A merchant's integrations: the catalog, and enabling one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from integrations import selectors
from integrations.models import IntegrationDefinition
from integrations.services import enabling
from integrations.views.detail import integration_url
from merchants.access import merchant_or_404
from qiiub.refusals import back_to, post_or_back_to, refusal_shown_at


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
@post_or_back_to(back_to("portal:catalog", "merchant_slug"))
@refusal_shown_at(back_to("portal:catalog", "merchant_slug"))
def enable(request, merchant_slug: str, code: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    # Any known code: the service explains why one outside this merchant's catalog can't be enabled.
    definition = get_object_or_404(IntegrationDefinition, code=code)
    location = None
    if location_id := request.POST.get("location", ""):
        if not location_id.isdigit():
            raise Http404("No such location.")
        location = get_object_or_404(merchant.locations, pk=location_id)
    integration = enabling.merchant_integration_enable(
        merchant=merchant, definition=definition, location=location, by=request.user
    )
    messages.success(request, _("%(name)s enabled. Check the configuration, then enter the credentials.") % {"name": definition.name})
    return redirect(integration_url(integration))
