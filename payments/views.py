"""The money pages: a day's money trail (till → processor → books → IVU) with its CSV, the day's
card tenders and processor rows, a sale with its tenders and refunds, the refund action, and
reconciling a day now. Thin: check scope, call one selector or service, render."""

from __future__ import annotations

import csv
import uuid
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from merchants.access import may_refund, merchant_or_404
from merchants.models import Merchant
from payments import refunds, selectors
from payments.processors import payment_integrations, processor_for
from payments.store.models import Outcome, RefundStatus
from payments.tasks import reconcile_day_task
from qiiub.errors import ApplicationError, NotFound
from qiiub.money import money_text
from qiiub.refusals import post_or_back_to


def _today(merchant: Merchant) -> date:
    return timezone.now().astimezone(ZoneInfo(merchant.time_zone)).date()


def _day(request, merchant: Merchant) -> date:
    """The day asked for (?day=YYYY-MM-DD), else yesterday in the merchant's time zone; a day that
    is not a date says so and shows yesterday."""
    yesterday = _today(merchant) - timedelta(days=1)
    text = request.GET.get("day", "")
    if not text:
        return yesterday
    try:
        return date.fromisoformat(text)
    except ValueError:
        messages.error(request, _("The date must look like 2026-11-24."))
        return yesterday


def _spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) is written as text."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _trail_url(merchant: Merchant, day: date) -> str:
    return f"{reverse('portal:money-trail', args=[merchant.slug])}?{urlencode({'day': day.isoformat()})}"


@login_required
def money_trail(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    day = _day(request, merchant)
    trail = selectors.money_trail(merchant=merchant, day=day)
    return render(request, "payments/money_trail.html", {
        "merchant": merchant, "trail": trail, "day": day, "previous": day - timedelta(days=1),
        "next": day + timedelta(days=1), "outcomes": Outcome, "day_over": day < _today(merchant)})


@login_required
def money_trail_csv(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    day = _day(request, merchant)
    trail = selectors.money_trail(merchant=merchant, day=day)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="money-trail-{merchant.slug}-{day}.csv"'
    writer = csv.writer(response)
    cell = _spreadsheet_safe
    writer.writerow(["day", "location", "name", "sales", "cash", "card", "check", "charge_account", "ivu_collected",
                     "processor_gross", "fees", "net", "difference", "causes", "journals"])
    for row in trail.rows:
        writer.writerow([
            day, cell(row.code), cell(row.location.name if row.location else ""), row.sales_count,
            *(row.tenders.get(kind, Decimal("0.00")) for kind in ("cash", "card", "check", "charge_account")),
            row.ivu, row.processor_gross, row.fees, row.net, row.difference,
            cell("; ".join([f"{cause.label}: {cause.count} ({cause.amount})" for cause in row.causes]
                           + ([f"{_('Not reconciled yet')} ({row.unreconciled})"] if row.unreconciled else []))),
            cell("; ".join(f"{journal.integration.definition.name} {journal.vendor_id}" for journal in row.journals))])
    return response


@login_required
@post_or_back_to(lambda request, merchant_slug: reverse("portal:money-trail", args=[merchant_slug]))
def reconcile_now(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    day = _day(request, merchant)
    if day >= _today(merchant):
        messages.error(request, _("A day is reconciled once it is over: pick yesterday or an earlier day."))
        return redirect(_trail_url(merchant, day))
    processors = list(payment_integrations(merchant))
    for integration in processors:
        reconcile_day_task.delay(integration.pk, day.isoformat())
    if processors:
        messages.success(request, _("Reconciling %(day)s with your processors: reload in a moment.") % {"day": day})
    else:
        messages.error(request, _("No active payments integration to reconcile with: connect one from the catalog."))
    return redirect(_trail_url(merchant, day))


@login_required
def card_tenders(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    day = _day(request, merchant)
    location = request.GET.get("location", "")
    outcome = request.GET.get("outcome", "")
    if outcome not in Outcome.values:
        outcome = ""
    last4 = request.GET.get("last4", "")
    last4 = last4 if last4.isdigit() and len(last4) == 4 else ""
    try:
        amount = Decimal(request.GET["amount"]).quantize(Decimal("0.01")) if request.GET.get("amount") else None
    except (InvalidOperation, ValueError):
        amount = None
        messages.error(request, _("The amount must be a number such as 12.50."))
    page = int(request.GET["page"]) if request.GET.get("page", "").isdigit() and int(request.GET["page"]) > 0 else 1
    rows, more = selectors.day_items(merchant=merchant, day=day, location=location, outcome=outcome, last4=last4,
                                     amount=amount, page=page)
    query = {"day": day.isoformat(), "location": location, "outcome": outcome, "last4": last4,
             "amount": request.GET.get("amount", "") if amount is not None else ""}
    return render(request, "payments/card_tenders.html", {
        "merchant": merchant, "day": day, "rows": rows, "more": more, "page": page, "filters": query,
        "query": urlencode(query), "outcomes": Outcome.choices, "locations": merchant.locations.order_by("code"),
        "processor_side": outcome in selectors.PROCESSOR_SIDE})


def _sale_page(request, merchant: Merchant, sale_id: int, *, error: str = "", status: int = 200):
    found = selectors.sale_detail(merchant=merchant, sale_id=sale_id)
    if found is None:
        raise Http404("No such sale.")
    sale, tenders = found
    processors = {tender.tender.pk: processor_for(merchant, tender.tender) for tender in tenders
                  if tender.tender.kind == "card" and tender.tender.processor_ref}
    return render(request, "payments/sale.html", {
        "merchant": merchant, "sale": sale, "tenders": tenders, "processors": processors, "error": error,
        "may_refund": may_refund(request.user, merchant),
        # Each form names its refund: a double click or a resubmit is the same refund.
        "refund_ids": {tender.tender.pk: uuid.uuid4() for tender in tenders},
        "completed_day": sale.completed_at.astimezone(ZoneInfo(merchant.time_zone)).date()}, status=status)


@login_required
def sale(request, merchant_slug: str, sale_id: int):
    merchant = merchant_or_404(request.user, merchant_slug)
    return _sale_page(request, merchant, sale_id)


@login_required
@post_or_back_to(lambda request, merchant_slug, sale_id, tender_id: reverse("portal:sale",
                                                                            args=[merchant_slug, sale_id]))
def refund(request, merchant_slug: str, sale_id: int, tender_id: int):
    merchant = merchant_or_404(request.user, merchant_slug)
    if not may_refund(request.user, merchant):
        raise Http404("No such sale.")
    try:
        refund_id = uuid.UUID(request.POST.get("refund_id", ""))
    except ValueError:
        return _sale_page(request, merchant, sale_id, error=_("The form was not complete: open the sale again."),
                          status=422)
    try:
        made = refunds.refund_request(merchant=merchant, sale_id=sale_id, tender_id=tender_id,
                                      amount=request.POST.get("amount", ""), refund_id=refund_id, by=request.user)
    except NotFound:
        raise Http404("No such sale.") from None
    except ApplicationError as error:
        return _sale_page(request, merchant, sale_id, error=error.message, status=422)
    if made.status == RefundStatus.SUCCEEDED:
        messages.success(request, _("Refunded %(amount)s to the card; the return is recorded against the sale.")
                         % {"amount": money_text(made.amount)})
    else:
        messages.warning(request, _("The processor has not confirmed the refund of %(amount)s yet. The hub asks "
                                    "again on its own, with the same reference: it is never made twice.")
                         % {"amount": money_text(made.amount)})
    return redirect("portal:sale", merchant.slug, sale_id)
