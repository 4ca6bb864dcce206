"""The IVU return's action on SURI's integration page: marking a month filed."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from integrations.access import integration_or_404
from qiiub.refusals import integration_page, post_or_back_to, refusal_shown_at
from taxes.filings import filing_mark_filed


def _returns_card(request, merchant_slug: str, integration_id: int, **_) -> str:
    return integration_page(request, merchant_slug, integration_id) + "#ivu-filings"


@login_required
@post_or_back_to(_returns_card)
@refusal_shown_at(_returns_card)
def ivu_mark_filed(request, merchant_slug: str, integration_id: int, filing_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    filing = get_object_or_404(integration.merchant.ivu_filings, pk=filing_id)
    filing_mark_filed(filing=filing, confirmation=request.POST.get("confirmation", ""), by=request.user)
    messages.success(request, _("The IVU return for %(month)s is marked filed.")
                     % {"month": date_format(filing.period, "YEAR_MONTH_FORMAT")})
    return redirect(_returns_card(request, merchant_slug, integration_id))
