"""Connecting an integration that signs in with OAuth: off to the vendor, and back."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from integrations.access import integration_or_404
from integrations.models import MerchantIntegration
from integrations.services import oauth
from integrations.views.detail import integration_url
from merchants.access import merchants_for
from qiiub.card_guard import ensure_no_card_data
from qiiub.errors import ApplicationError, CardDataRejected
from qiiub.refusals import post_on_integration_page, refusal_on_integration_page


def _oauth_redirect_uri(request) -> str:
    path = reverse("portal:oauth-callback")
    return f"{settings.PUBLIC_BASE_URL}{path}" if settings.PUBLIC_BASE_URL else request.build_absolute_uri(path)


@login_required
@post_on_integration_page
@refusal_on_integration_page
def oauth_connect(request, merchant_slug: str, integration_id: int):
    """Send the merchant admin to the vendor to approve the connection (connect or re-auth)."""
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    return redirect(oauth.oauth_start(integration=integration, session=request.session,
                                      redirect_uri=_oauth_redirect_uri(request)))


@login_required
def oauth_callback(request):
    """Where the vendor sends the admin back. Only a state this session started is accepted."""
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
        return redirect(integration_url(integration))
    try:
        integration, failure = oauth.oauth_complete(
            integration=integration, code=request.GET.get("code", ""), company_id=request.GET.get("realmId", ""),
            redirect_uri=_oauth_redirect_uri(request), by=request.user,
        )
    except ApplicationError as error:
        messages.error(request, _("%(name)s was not connected: %(message)s")
                       % {"name": integration.definition.name, "message": error.message})
        return redirect(integration_url(integration))
    if failure is None:
        messages.success(request, _("%(name)s connected and tested.") % {"name": integration.definition.name})
    else:
        messages.error(request, _("%(name)s connected, but the connection test failed: %(message)s %(advice)s") % {
            "name": integration.definition.name, "message": failure.message, "advice": failure.advice})
    return redirect(integration_url(integration))
