"""The portal's own pages: where each role lands, the merchant's dashboard, the language switch."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext

from compliance.selectors import delivered_card_events
from integrations import inbox, selectors
from merchants.access import merchant_or_404, merchants_for, partners_for
from merchants.selectors import user_language
from merchants.services import user_language_set
from qiiub.errors import ValidationFailed
from qiiub.refusals import post_or_back_to


@login_required
def home(request):
    """Send each role where it works: a single merchant's dashboard, else the list of merchants."""
    merchants = merchants_for(request.user).order_by("name")
    if not request.user.is_staff and not partners_for(request.user).exists() and merchants.count() == 1:
        return redirect("portal:dashboard", merchants.get().slug)
    return render(request, "portal/home.html", {"merchants": merchants.select_related("partner"),
                                                "partners": partners_for(request.user).order_by("name")})


@login_required
def merchant_dashboard(request, merchant_slug: str):
    merchant = merchant_or_404(request.user, merchant_slug)
    integrations = list(selectors.integrations_for_merchant(merchant))
    for item in integrations:
        item.next_step = inbox.next_step(item, staff=request.user.is_staff)
    return render(request, "portal/dashboard.html", {
        "merchant": merchant, "integrations": integrations, "card_events": delivered_card_events(merchant),
    })


@login_required
@post_or_back_to(lambda request, **_: "/")
def language_set(request):
    """The top bar's language switcher: save the choice, then back to the page it was made on.
    A plain form post answers a redirect; an htmx-boosted one a full reload (HX-Redirect), so the
    page's `lang` and every string come back in the new language."""
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/"
    try:
        user_language_set(user=request.user, language=request.POST.get("language", ""))
    except ValidationFailed as error:
        messages.error(request, error.message)
    else:
        language = user_language(request.user).language or translation.get_language_from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        messages.success(request, gettext("Language saved."))
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = next_url
        return response
    return redirect(next_url)
