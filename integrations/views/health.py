"""SystemAdmin's integration health, inside the Django admin."""

from __future__ import annotations

from django.contrib import admin
from django.shortcuts import render
from django.utils.translation import gettext as _

from integrations import selectors
from integrations.models import Status


def system_health(request):
    """SystemAdmin dashboard (served inside the Django admin, staff only)."""
    return render(request, "admin/system_health.html", {
        **admin.site.each_context(request), "title": _("Integration health"), "health": selectors.system_health(),
        "statuses": [choice for choice in Status.choices if choice[0] != Status.DISCONNECTED]})
