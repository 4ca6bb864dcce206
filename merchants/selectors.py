"""Reading merchant-side facts for other layers: which language and time zone a portal user gets."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Subquery
from django.utils.translation import get_supported_language_variant

from merchants.models import Membership, Merchant, Role, UserPreference

# A partner admin looks after stores that may each speak another language: English unless chosen.
PARTNER_ADMIN_LANGUAGE = "en"


def _supported(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return get_supported_language_variant(code)
    except LookupError:
        return None


@dataclass(frozen=True)
class UserLanguage:
    chosen: str  # what the user picked in the switcher; "" is automatic
    language: str | None  # what the portal speaks to them; None: the browser's Accept-Language decides
    time_zone: str = ""  # their merchant's (merchant admin); "" for everyone else


def user_language(user) -> UserLanguage:
    """The portal language for `user`, in one query: the one they chose, else their merchant's
    (merchant admin), else English (partner admin), else none (the request decides). With it, a
    merchant admin's merchant time zone."""
    memberships = Membership.objects.filter(user=OuterRef("pk"))
    own_merchant = memberships.filter(role=Role.MERCHANT_ADMIN).order_by("pk")  # a merchant admin's first
    row = (
        get_user_model().objects.filter(pk=user.pk)
        .annotate(
            chosen=Subquery(UserPreference.objects.filter(user=OuterRef("pk")).values("language")[:1]),
            merchant_language=Subquery(own_merchant.values("merchant__language")[:1]),
            merchant_time_zone=Subquery(own_merchant.values("merchant__time_zone")[:1]),
            is_partner_admin=Exists(memberships.filter(role=Role.PARTNER_ADMIN)),
        )
        .values_list("chosen", "merchant_language", "is_partner_admin", "merchant_time_zone")
        .first()
    )
    if row is None:
        return UserLanguage(chosen="", language=None)
    chosen, merchant_language, is_partner_admin, merchant_time_zone = row
    language = (
        _supported(chosen)
        or _supported(merchant_language)
        or (PARTNER_ADMIN_LANGUAGE if is_partner_admin else None)
    )
    return UserLanguage(chosen=chosen or "", language=language, time_zone=merchant_time_zone or "")


def merchant_time_zone(slug: str) -> str:
    """The time zone of the merchant with this URL slug ("" if there is none)."""
    return Merchant.objects.filter(slug=slug).values_list("time_zone", flat=True).first() or ""


def merchant_admin_emails(merchant_id: int) -> list[str]:
    """Where a merchant's alerts go: its active merchant admins with an email."""
    users = get_user_model().objects.filter(
        is_active=True, memberships__role=Role.MERCHANT_ADMIN, memberships__merchant_id=merchant_id
    )
    return sorted({user.email for user in users if user.email})


def emails_by_language(users) -> dict[str, list[str]]:
    """Where to send one email per language: the active users with an email, grouped by the language
    `user_language` gives them (with no browser to ask, the site's default where it gives none)."""
    grouped: dict[str, set[str]] = {}
    for user in users:
        if user.is_active and user.email:
            language = user_language(user).language or settings.LANGUAGE_CODE
            grouped.setdefault(language, set()).add(user.email)
    return {language: sorted(emails) for language, emails in sorted(grouped.items())}
