from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from qiiub.access import merchants_for, partners_for


@login_required
def home(request):
    """Send each role where it works: a single merchant's dashboard, else the list of merchants."""
    merchants = merchants_for(request.user).order_by("name")
    if not request.user.is_staff and not partners_for(request.user).exists() and merchants.count() == 1:
        return redirect("portal:dashboard", merchants.get().slug)
    return render(request, "portal/home.html", {"merchants": merchants.select_related("partner"),
                                                "partners": partners_for(request.user).order_by("name")})
