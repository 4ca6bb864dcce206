"""Syncs: run one now, the sync log with its filters, and one run's page."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from integrations import tasks
from integrations.access import integration_or_404
from integrations.models import SyncStatus
from integrations.services.sync import merchant_integration_sync_soon
from integrations.views.detail import integration_url
from qiiub.refusals import post_on_integration_page, refusal_on_integration_page


@login_required
@post_on_integration_page
@refusal_on_integration_page
def sync_now(request, merchant_slug: str, integration_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    merchant_integration_sync_soon(integration=integration, enqueue_poll=tasks.send_poll_batch,
                                   enqueue_batch=tasks.send_scheduled_batch)
    messages.success(request, _("Sync started: its result shows in the sync log in a moment."))
    return redirect(integration_url(integration))


SYNC_LOG_PAGE = 50


@login_required
def sync_logs(request, merchant_slug: str, integration_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    logs = integration.sync_logs.order_by("-started_at")
    status = request.GET.get("status", "")
    if status in SyncStatus.values:
        logs = logs.filter(status=status)
    since_text = request.GET.get("since", "")
    try:
        since = date.fromisoformat(since_text) if since_text else None
    except ValueError:
        since = None
        messages.error(request, _("The date must look like 2026-11-24."))
    if since is not None:
        logs = logs.filter(started_at__date__gte=since)
    page = max(1, int(request.GET.get("page", "1"))) if request.GET.get("page", "1").isdigit() else 1
    window = list(logs[(page - 1) * SYNC_LOG_PAGE: page * SYNC_LOG_PAGE + 1])
    return render(request, "integrations/sync_logs.html", {
        "merchant": integration.merchant, "integration": integration, "logs": window[:SYNC_LOG_PAGE],
        "more": len(window) > SYNC_LOG_PAGE, "page": page, "status": status, "since": since_text,
        "statuses": SyncStatus.choices, "kept_days": settings.RETENTION_SYNC_LOG_DAYS})


@login_required
def sync_log(request, merchant_slug: str, integration_id: int, log_id: int):
    integration = integration_or_404(request.user, merchant_slug, integration_id)
    log = get_object_or_404(integration.sync_logs, pk=log_id)
    return render(request, "integrations/sync_log.html", {
        "merchant": integration.merchant, "integration": integration, "log": log,
        "errors": log.summary_lines,
        "needs_mapping": (log.error_message or {}).get("code") in ("unmapped_days", "export_left_out")})
