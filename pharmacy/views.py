"""The pharmacy's portal pages: a location's relay health, enrollment and revocation, its waiting
and returned fills and the outbox's refusals, the pickup and signature log (page, CSV, print,
signature image), the PHI access log, and a partner's relay health (DESIGN.md D11).

Patient data is for the merchant's own admins and SystemAdmins: a partner admin, who sees the
merchant's other pages, is answered 404 on these. Every page that shows patient data is read
through `pharmacy.selectors`, which writes the access row with the read, and is never cached.
Thin: check scope, call one selector or service, render.
"""

from __future__ import annotations

import csv
import re
from base64 import b64encode
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from devices.models import EnrollmentPurpose
from devices.terminals import enrollment_code_create
from merchants.access import partner_or_404, patient_data_merchant_or_404
from merchants.models import Location, Merchant
from pharmacy import selectors
from pharmacy.audit import Actor, request_source
from pharmacy.models import Relay
from pharmacy.prescriptions import prescription_reset_done
from pharmacy.relays import relay_revoke
from pharmacy.store.models import PhiAction
from qiiub.card_guard import text_contains_card_number
from qiiub.refusals import back_to, post_or_back_to

# Where the relay keeps its key, token and queue, as docs/pharmacy-relay.md runs it.
RELAY_STATE_DIR = "/var/lib/qiiub-relay"
# Letters, digits, spaces and a little punctuation: the name goes inside "…" on a command line.
RELAY_NAME = re.compile(r"^[\w .,()#'-]{1,100}$")

LABELS = {
    "flag": {"hipaa": gettext_lazy("Privacy notice"), "safety_cap": gettext_lazy("Safety cap waiver"),
             "counseling": gettext_lazy("Counseling")},
    "relation": {"self": gettext_lazy("Patient"), "spouse": gettext_lazy("Spouse"), "parent": gettext_lazy("Parent"),
                 "child": gettext_lazy("Child"), "caregiver": gettext_lazy("Caregiver"),
                 "other": gettext_lazy("Other")},
    "kind": {"pickup": gettext_lazy("Pickup"), "sale": gettext_lazy("Rx sale"), "return": gettext_lazy("Return")},
    "actor": {"user": gettext_lazy("User"), "terminal": gettext_lazy("Register"), "relay": gettext_lazy("Relay"),
              "system": gettext_lazy("Hub")},
    "action": {"read": gettext_lazy("Read"), "write": gettext_lazy("Write"), "export": gettext_lazy("Export"),
               "purge": gettext_lazy("Purge")},
    # What was read or written (PhiAccess.resource): stored as a code, shown in the reader's words.
    "resource": {"ready_list": gettext_lazy("Ready list"), "prescription": gettext_lazy("Prescriptions"),
                 "prescriptions": gettext_lazy("Prescriptions"), "pickup": gettext_lazy("Pickups"),
                 "pickups": gettext_lazy("Pickups"), "pickup_log": gettext_lazy("Pickup and signature log"),
                 "signature": gettext_lazy("Signatures"), "outbox": gettext_lazy("Messages to the pharmacy system"),
                 "outbox_messages": gettext_lazy("Messages to the pharmacy system")},
}


def _location_or_404(merchant: Merchant, location_id: int) -> Location:
    location = get_object_or_404(merchant.locations, pk=location_id)
    location.merchant = merchant
    return location


def _actor(request) -> Actor:
    return Actor.user(request.user, request_source(request))


def _day(text: str, merchant: Merchant) -> tuple[date | None, str]:
    """(the day asked for, today in the merchant's zone if none; the error to show, or "")."""
    if not text:
        return timezone.localdate(timezone=ZoneInfo(merchant.time_zone)), ""
    try:
        return date.fromisoformat(text), ""
    except ValueError:
        return None, _("“%(day)s” is not a day: write it like 2026-11-24.") % {"day": text[:20]}


@login_required
def pharmacy_locations(request, merchant_slug: str):
    merchant = patient_data_merchant_or_404(request.user, merchant_slug)
    return render(request, "pharmacy/locations.html", {
        "merchant": merchant, "summaries": selectors.merchant_pharmacy_locations(merchant)})


def _hub_url(request) -> str:
    return settings.PUBLIC_BASE_URL or request.build_absolute_uri("/").rstrip("/")


@login_required
@never_cache
def pharmacy_location(request, merchant_slug: str, location_id: int):
    """GET: the page. POST: a relay enrollment code, shown this once (rendered, never stored)."""
    merchant = patient_data_merchant_or_404(request.user, merchant_slug)
    location = _location_or_404(merchant, location_id)
    context = {"new_code": None, "name": "", "name_error": ""}
    status = 200
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if text_contains_card_number(name):  # never echoed back
            context["name_error"] = _("A relay's name cannot hold a card number.")
        elif not RELAY_NAME.match(name):
            context |= {"name": name, "name_error": _(
                "Give the relay a name of 1 to 100 letters, digits, spaces or . , ( ) # ' - (e.g. Back office PC).")}
        else:
            enrollment, code = enrollment_code_create(location=location, by=request.user,
                                                      purpose=EnrollmentPurpose.RELAY)
            command = (f'python -m qiiub_relay --hub {_hub_url(request)} --state-dir {RELAY_STATE_DIR} '
                       f'--enroll {code} --name "{name}"')
            context["new_code"] = {"code": code, "name": name, "command": command, "expires_at": enrollment.expires_at}
        status = 422 if context["name_error"] else 201
    return render(request, "pharmacy/location.html", {
        **context, "merchant": merchant, "location": location, "labels": LABELS,
        "health": selectors.relay_health(location),
        "pharmacy": selectors.location_pharmacy(location, actor=_actor(request)),
        "takeover_minutes": max(1, settings.PHARMACY_RELAY_TAKEOVER_AFTER_S // 60)}, status=status)


@login_required
@post_or_back_to(back_to("portal:pharmacy-location", "merchant_slug", "location_id"))
def pharmacy_relay_revoke(request, merchant_slug: str, location_id: int, relay_id: int):
    merchant = patient_data_merchant_or_404(request.user, merchant_slug)
    location = _location_or_404(merchant, location_id)
    relay = get_object_or_404(Relay, pk=relay_id, location=location, revoked_at__isnull=True)
    relay_revoke(relay=relay, by=request.user)
    messages.success(request, _("%(name)s can no longer reach the hub. Enroll it again with a new code to bring it "
                                "back.") % {"name": relay.name})
    return redirect("portal:pharmacy-location", merchant.slug, location.pk)


@login_required
@post_or_back_to(back_to("portal:pharmacy-location", "merchant_slug", "location_id"))
def pharmacy_reset_done(request, merchant_slug: str, location_id: int, prescription_id: int):
    merchant = patient_data_merchant_or_404(request.user, merchant_slug)
    location = _location_or_404(merchant, location_id)
    if not prescription_reset_done(location=location, prescription_id=prescription_id, actor=_actor(request)):
        raise Http404("No such fill to reset.")
    messages.success(request, _("Marked as reset in Rx30: it left the list."))
    return redirect("portal:pharmacy-location", merchant.slug, location.pk)


def _csv_cell(value) -> str:
    """A text a spreadsheet shows as text, never runs as a formula."""
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _flag_text(results: list[dict]) -> str:
    return "; ".join(f"{LABELS['flag'].get(result['type'], result['type'])}: "
                     f"{_('accepted') if result['accepted'] else _('declined')}" for result in results)


def _pickups_csv(merchant: Merchant, location: Location, day: date, rows) -> HttpResponse:
    safe_code = re.sub(r"[^A-Za-z0-9_-]", "_", location.code)
    response = HttpResponse(content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="pickups-{safe_code}-{day.isoformat()}.csv"'})
    writer = csv.writer(response)
    writer.writerow([_("Time"), _("Rx number"), _("Fill"), _("Picked up by"), _("Relation"), _("Flags"),
                     _("Signature"), _("Amount paid"), _("Register")])
    zone = ZoneInfo(merchant.time_zone)
    for row in rows:
        writer.writerow([row.picked_up_at.astimezone(zone).isoformat(timespec="seconds"), _csv_cell(row.rx_number),
                         row.fill_number, _csv_cell(row.picked_up_by),
                         LABELS["relation"].get(row.relation, row.relation), _flag_text(row.flag_results),
                         _("yes") if row.has_signature else _("no"), row.amount_paid, _csv_cell(row.register)])
    return response


@login_required
@never_cache
def pharmacy_pickups(request, merchant_slug: str, location_id: int):
    """The day's pickup and signature log: the page, `?format=csv` (an export) or `?print=1`."""
    merchant = patient_data_merchant_or_404(request.user, merchant_slug)
    location = _location_or_404(merchant, location_id)
    day, day_error = _day(request.GET.get("day", ""), merchant)
    context = {"merchant": merchant, "location": location, "labels": LABELS, "day": day, "day_error": day_error,
               "day_text": request.GET.get("day", "")[:20] if day_error else day.isoformat(), "rows": []}
    if day_error:
        return render(request, "pharmacy/pickups.html", context, status=422)
    if request.GET.get("format") == "csv":
        rows = selectors.pickup_log(location, day, actor=_actor(request), action=PhiAction.EXPORT)
        return _pickups_csv(merchant, location, day, rows)
    printing = request.GET.get("print") == "1"
    rows = selectors.pickup_log(location, day, actor=_actor(request), with_signatures=printing)
    if printing:
        images = {row.pk: f"data:{row.signature[0]};base64,{b64encode(row.signature[1]).decode()}"
                  for row in rows if row.signature}
        return render(request, "pharmacy/pickups_print.html", {**context, "rows": rows, "images": images,
                                                               "printed_at": timezone.now()})
    return render(request, "pharmacy/pickups.html", {**context, "rows": rows})


@login_required
@never_cache
def pharmacy_signature(request, merchant_slug: str, location_id: int, pickup_id: int):
    merchant = patient_data_merchant_or_404(request.user, merchant_slug)
    location = _location_or_404(merchant, location_id)
    image = selectors.pickup_signature(location, pickup_id, actor=_actor(request))
    if image is None:
        raise Http404("No such signature.")
    content_type, data = image
    return HttpResponse(data, content_type=content_type, headers={"Content-Disposition": "inline"})


@login_required
def pharmacy_access_log(request, merchant_slug: str):
    """Who read or wrote patient data, newest first. No patient data in it: viewing it is not logged."""
    merchant = patient_data_merchant_or_404(request.user, merchant_slug)
    day_text = request.GET.get("day", "")
    day, day_error = _day(day_text, merchant) if day_text else (None, "")
    locations = list(merchant.locations.order_by("name"))
    location_code = request.GET.get("location", "")
    if location_code not in {location.code for location in locations}:
        location_code = ""
    page_text = request.GET.get("page", "1")
    page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
    log = (selectors.AccessLogPage([], 1, False) if day_error
           else selectors.access_log_page(merchant, day=day, location_code=location_code, page=page))
    return render(request, "pharmacy/access_log.html", {
        "merchant": merchant, "log": log, "labels": LABELS, "locations": locations, "location_code": location_code,
        "day_text": day_text[:20], "day_error": day_error}, status=422 if day_error else 200)


@login_required
def partner_relay_health(request, partner_slug: str):
    """Every pharmacy store's relay of the partner: health only, no patient data."""
    partner = partner_or_404(request.user, partner_slug)
    return render(request, "pharmacy/partner_health.html", {
        "partner": partner, "healths": selectors.partner_relay_health(partner)})
