"""Merchant admin pages for webhook endpoints. The signing secret is shown once, on the page that
answers its creation or rotation, and never again."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from events import replay
from events.models import DeliveryAttempt, DeliveryStatus
from events.types import EVENT_TYPES
from merchants.access import merchant_or_404
from qiiub.card_redaction import without_card_data
from qiiub.errors import ApplicationError, ValidationFailed
from webhooks import services as webhooks


def _endpoint_or_404(user, merchant_slug: str, endpoint_id: int):
    merchant = merchant_or_404(user, merchant_slug)
    return get_object_or_404(merchant.webhook_endpoints, pk=endpoint_id)


def _list(request, merchant, *, form=None, errors=None, new_secret=None, status=200):
    return render(
        request,
        "webhooks/list.html",
        {
            "merchant": merchant,
            "endpoints": merchant.webhook_endpoints.all(),
            "event_types": EVENT_TYPES.values(),
            "form": form or {},
            "errors": errors or {},
            "new_secret": new_secret,
        },
        status=status,
    )


@login_required
def endpoint_list(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    if request.method != "POST":
        return _list(request, merchant)
    form = {
        "url": request.POST.get("url", "").strip(),
        "description": request.POST.get("description", "").strip(),
        "event_types": request.POST.getlist("event_types"),
    }
    try:
        endpoint, secret = webhooks.webhook_endpoint_create(merchant=merchant, by=request.user, **form)
    except ValidationFailed as error:
        messages.error(request, error.message)
        return _list(request, merchant, form=without_card_data(form), errors=error.field_errors, status=422)
    messages.success(request, _("Endpoint created. Copy its signing secret now: it is shown only once."))
    return _list(request, merchant, new_secret={"endpoint": endpoint, "secret": secret})


def _detail(request, endpoint, *, new_secret=None, test_result=None):
    attempts = (
        DeliveryAttempt.objects.filter(delivery__webhook_endpoint=endpoint)
        .select_related("delivery__event")
        .order_by("-attempted_at")[:50]
    )
    dead = endpoint.deliveries.filter(status=DeliveryStatus.DEAD).select_related("event")[:50]
    return render(
        request,
        "webhooks/detail.html",
        {
            "merchant": endpoint.merchant, "endpoint": endpoint, "attempts": attempts, "dead": dead,
            "new_secret": new_secret, "test_result": test_result,
        },
    )


@login_required
def endpoint_detail(request, merchant_slug: str, endpoint_id: int):
    return _detail(request, _endpoint_or_404(request.user, merchant_slug, endpoint_id))


@login_required
@require_POST
def endpoint_test(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    try:
        answer, summary = webhooks.webhook_endpoint_send_test(endpoint=endpoint, by=request.user)
    except ApplicationError as error:
        answer, summary = None, error.message
    return _detail(request, endpoint, test_result={"answer": answer, "summary": summary})


@login_required
@require_POST
def endpoint_rotate(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    secret = webhooks.webhook_endpoint_rotate_secret(endpoint=endpoint, by=request.user)
    messages.success(request, _("New signing secret: copy it now. The old one keeps signing for 24 hours."))
    endpoint.refresh_from_db()
    return _detail(request, endpoint, new_secret=secret)


@login_required
@require_POST
def endpoint_toggle(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    webhooks.webhook_endpoint_set_enabled(endpoint=endpoint, enabled=not endpoint.enabled, by=request.user)
    messages.success(request, _("Endpoint enabled.") if endpoint.enabled else _("Endpoint disabled."))
    return redirect("portal:webhook", merchant_slug, endpoint.pk)


@login_required
@require_POST
def endpoint_retry_dead(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    count = replay.deliveries_replay(deliveries=endpoint.deliveries.all(), by=request.user)
    messages.success(request, ngettext("%(count)d failed delivery scheduled again.",
                                       "%(count)d failed deliveries scheduled again.", count) % {"count": count})
    return redirect("portal:webhook", merchant_slug, endpoint.pk)
