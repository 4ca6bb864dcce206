"""Merchant admin pages for webhook endpoints, Post/Redirect/Get throughout: every accepted form
redirects to a page that answers GET, so a reload or Back never re-sends and never meets a 405; a
refused form is shown again, with every field's error, at an address that also answers GET.

The signing secret is shown once: after a creation or rotation the session holds which vault
entry to reveal (never the secret itself), popped by the next view of the endpoint page."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from events import replay
from events.models import DeliveryStatus
from events.types import EVENT_TYPES
from merchants.access import merchant_or_404
from qiiub.card_guard import mask_card_numbers
from qiiub.card_redaction import without_card_data
from qiiub.errors import ApplicationError, ValidationFailed
from qiiub.messages import message_text
from qiiub.retry import WEBHOOK_DISABLE_AFTER_FAILING
from qiiub.vault import read_secret
from webhooks import selectors
from webhooks import services as webhooks
from webhooks.sending import event_body

SECRET_TO_REVEAL = "webhooks.secret_to_reveal"


def _endpoint_or_404(user, merchant_slug: str, endpoint_id: int):
    merchant = merchant_or_404(user, merchant_slug)
    return get_object_or_404(merchant.webhook_endpoints.select_related("merchant"), pk=endpoint_id)


def _action(view):
    """A button's POST. Its address opened with GET (a bookmark, a reload after the redirect) leads
    to the page the button is on instead of a blank 405."""

    @wraps(view)
    @login_required
    def post_or_back(request, *args, **kwargs):
        if request.method != "POST":
            return redirect(request.path.rstrip("/").rsplit("/", 1)[0] + "/")
        return view(request, *args, **kwargs)

    return post_or_back


def _posted_fields(request) -> dict:
    return {
        "url": request.POST.get("url", "").strip(),
        "description": request.POST.get("description", "").strip(),
        "event_types": request.POST.getlist("event_types"),
    }


def _reveal_secret_once(request, endpoint) -> None:
    request.session[SECRET_TO_REVEAL] = {"endpoint_id": endpoint.pk, "vault_key": endpoint.secret_vault_key}


def _secret_to_reveal(request, endpoint) -> str | None:
    pending = request.session.pop(SECRET_TO_REVEAL, None)
    if pending != {"endpoint_id": endpoint.pk, "vault_key": endpoint.secret_vault_key}:
        return None  # nothing to reveal, or a secret rotated again since
    return read_secret(endpoint.secret_vault_key)["secret"]


def _form_page(request, template: str, context: dict, *, form=None, errors=None, status=200):
    return render(
        request, template,
        {**context, "event_types": EVENT_TYPES.values(), "form": form or {}, "errors": errors or {}},
        status=status,
    )


@login_required
def endpoint_list(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    context = {"merchant": merchant, "endpoints": merchant.webhook_endpoints.all()}
    if request.method != "POST":
        return _form_page(request, "webhooks/list.html", context)
    form = _posted_fields(request)
    try:
        endpoint, _secret = webhooks.webhook_endpoint_create(merchant=merchant, by=request.user, **form)
    except ValidationFailed as error:
        messages.error(request, error.message)
        return _form_page(request, "webhooks/list.html", context, form=without_card_data(form),
                          errors=error.field_errors, status=422)
    _reveal_secret_once(request, endpoint)
    messages.success(request, _("Endpoint created. Copy its signing secret now: it is shown only once."))
    return redirect("portal:webhook", merchant_slug, endpoint.pk)


@login_required
def endpoint_detail(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    response = render(request, "webhooks/detail.html", {
        "merchant": endpoint.merchant, "endpoint": endpoint, "attempts": selectors.endpoint_log(endpoint),
        "failed_count": selectors.endpoint_failed_deliveries(endpoint).count(),
        "new_secret": _secret_to_reveal(request, endpoint), "test_event_type": webhooks.TEST_EVENT_TYPE,
        "disable_at": endpoint.failing_since and endpoint.failing_since + WEBHOOK_DISABLE_AFTER_FAILING,
        "kept_days": settings.RETENTION_EVENT_DAYS, "dead_kept_days": settings.RETENTION_DEAD_DELIVERY_DAYS,
    })
    add_never_cache_headers(response)  # Back must ask again, not show a revealed secret from the cache
    return response


@login_required
def endpoint_edit(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    context = {"merchant": endpoint.merchant, "endpoint": endpoint}
    if request.method != "POST":
        form = {"url": endpoint.url, "description": endpoint.description, "event_types": endpoint.event_types}
        return _form_page(request, "webhooks/edit.html", context, form=form)
    form = _posted_fields(request)
    try:
        webhooks.webhook_endpoint_update(endpoint=endpoint, by=request.user, **form)
    except ValidationFailed as error:
        messages.error(request, error.message)
        return _form_page(request, "webhooks/edit.html", context, form=without_card_data(form),
                          errors=error.field_errors, status=422)
    messages.success(request, _("Endpoint saved."))
    return redirect("portal:webhook", merchant_slug, endpoint.pk)


@login_required
def endpoint_delete(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    if request.method != "POST":
        return render(request, "webhooks/delete.html", {
            "merchant": endpoint.merchant, "endpoint": endpoint,
            "pending_count": webhooks.pending_delivery_count(endpoint),
        })
    dropped = webhooks.webhook_endpoint_delete(endpoint=endpoint, by=request.user)
    messages.success(request, ngettext(
        "Endpoint deleted; %(count)d pending delivery was dropped.",
        "Endpoint deleted; %(count)d pending deliveries were dropped.", dropped) % {"count": dropped})
    return redirect("portal:webhooks", merchant_slug)


def _outcome_message(request, delivery, *, delivered: str, not_delivered: str) -> None:
    """Say how the attempt just made went (the endpoint page shows the next retry, if any)."""
    attempt = delivery.attempt_log.first()
    if attempt is None:
        return
    if delivery.status == DeliveryStatus.SUCCEEDED:
        messages.success(request, delivered % {"status": attempt.status_code, "ms": attempt.duration_ms})
        return
    error = message_text(attempt.error_code, attempt.error_params)
    messages.error(request, not_delivered % {"error": error})


@_action
def endpoint_test(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    delivery = webhooks.webhook_endpoint_send_test(endpoint=endpoint, by=request.user)
    _outcome_message(request, delivery,
                     delivered=_("Test event delivered: your endpoint answered %(status)s in %(ms)s ms."),
                     not_delivered=_("Test event not delivered. %(error)s"))
    return redirect("portal:webhook", merchant_slug, endpoint.pk)


@_action
def endpoint_rotate(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    webhooks.webhook_endpoint_rotate_secret(endpoint=endpoint, by=request.user)
    endpoint.refresh_from_db()
    _reveal_secret_once(request, endpoint)
    messages.success(request, _("New signing secret: copy it now. The old one keeps signing for 24 hours."))
    return redirect("portal:webhook", merchant_slug, endpoint.pk)


@_action
def endpoint_toggle(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    webhooks.webhook_endpoint_set_enabled(endpoint=endpoint, enabled=not endpoint.enabled, by=request.user)
    messages.success(request, _("Endpoint enabled.") if endpoint.enabled else _("Endpoint disabled."))
    return redirect("portal:webhook", merchant_slug, endpoint.pk)


@_action
def endpoint_retry_dead(request, merchant_slug: str, endpoint_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    count = replay.deliveries_replay(deliveries=selectors.endpoint_failed_deliveries(endpoint), by=request.user)
    messages.success(request, ngettext("%(count)d failed delivery scheduled again.",
                                       "%(count)d failed deliveries scheduled again.", count) % {"count": count})
    return redirect("portal:webhook", merchant_slug, endpoint.pk)


@login_required
def delivery_detail(request, merchant_slug: str, endpoint_id: int, delivery_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    delivery = selectors.endpoint_delivery_or_404(endpoint, delivery_id)
    event = delivery.event
    body = event_body(event_type=event.event_type, payload=event.payload, occurred_at=event.created_at).decode()
    return render(request, "webhooks/delivery.html", {
        "merchant": endpoint.merchant, "endpoint": endpoint, "delivery": delivery,
        "attempts": delivery.attempt_log.all(), "body": mask_card_numbers(body),
        "is_test": webhooks.is_test_delivery(delivery),
    })


@_action
def delivery_resend(request, merchant_slug: str, endpoint_id: int, delivery_id: int):
    endpoint = _endpoint_or_404(request.user, merchant_slug, endpoint_id)
    delivery = selectors.endpoint_delivery_or_404(endpoint, delivery_id)
    try:
        delivery = webhooks.webhook_delivery_resend(delivery=delivery, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        _outcome_message(request, delivery,
                         delivered=_("Delivered: your endpoint answered %(status)s in %(ms)s ms."),
                         not_delivered=_("Resent, not delivered. %(error)s"))
    return redirect("portal:webhook-delivery", merchant_slug, endpoint.pk, delivery.pk)
