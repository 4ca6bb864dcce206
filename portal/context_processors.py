from django.conf import settings

from merchants.access import partners_for
from qiiub.card_guard import find_card_data


def portal(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "user_partners": partners_for(user),
        # The top bar's language switcher: the choices, and the user's own ("" is automatic).
        "portal_languages": settings.LANGUAGES,
        "language_chosen": getattr(request, "language_chosen", ""),
        # Where the switcher returns to: this page, without a query string that holds card data.
        "return_path": request.path if find_card_data(request.GET.dict()) else request.get_full_path(),
    }
