"""The merchant portal's answer to card data found in events already delivered."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from compliance.services import delivered_card_events_acknowledge
from merchants.access import merchant_or_404
from qiiub.refusals import back_to, post_or_back_to


@login_required
@post_or_back_to(back_to("portal:dashboard", "merchant_slug"))
def card_events_acknowledge(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    if delivered_card_events_acknowledge(merchant=merchant, by=request.user):
        messages.success(request, _("Noted: the receivers were asked to delete those events."))
    return redirect("portal:dashboard", merchant.slug)
