"""The merchant's Issues inbox: every open problem of its integrations and webhook endpoints, with
the fix as a button, and what was resolved lately."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from integrations import inbox
from merchants.access import merchant_or_404


@login_required
def issues(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    return render(request, "integrations/issues.html", {
        "merchant": merchant, "problems": inbox.open_problems(merchant), "history": inbox.problem_history(merchant),
    })
