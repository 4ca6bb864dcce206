"""The pharmacy's middleware: the ready list's early 304. (The automatic logoff of users who can
see patient data is the idle logoff's shorter limit: merchants/middleware.py.)"""

from __future__ import annotations

from django.urls import reverse

from pharmacy.api import ready_list_not_modified


class NotModifiedReadyListMiddleware:
    """Answers an unchanged ready list before the rest of the stack, as the POS config's does: a
    store's registers pull it every 15 s, and nearly every pull is a 304."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.path = reverse("pharmacy_pos:ready_list")

    def __call__(self, request):
        if request.path_info == self.path and (not_modified := ready_list_not_modified(request)) is not None:
            return not_modified
        return self.get_response(request)
