"""The merchant portal's answer to card data found in events already delivered."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from compliance.services import delivered_card_events_acknowledge
from merchants.access import merchant_or_404


@login_required
@require_POST
def card_events_acknowledge(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    if delivered_card_events_acknowledge(merchant=merchant, by=request.user):
        messages.success(request, _("Noted: the receivers were asked to delete those events."))
    return redirect("portal:dashboard", merchant.slug)
