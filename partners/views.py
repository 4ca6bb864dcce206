from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from qiiub.access import partner_or_404


@login_required
def template_list(request, partner_slug: str):
    partner = partner_or_404(request.user, partner_slug)
    return render(request, "partners/templates.html", {"partner": partner})


@login_required
def bulk_jobs(request, partner_slug: str):
    partner = partner_or_404(request.user, partner_slug)
    return render(request, "partners/bulk_jobs.html", {"partner": partner})
