"""Scope checks, in one place: who may see which merchant and partner (and, through the merchant,
everything of it: `integrations.selectors.integration_or_404` starts here).

Anything outside a user's scope answers 404, never 403, so its existence is not revealed.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet
from django.http import Http404

from merchants.models import Merchant, Role, Vertical
from partners.models import Partner


def merchants_for(user) -> QuerySet[Merchant]:
    if not user.is_authenticated:
        return Merchant.objects.none()
    if user.is_staff:
        return Merchant.objects.all()
    memberships = user.memberships.all()
    partner_ids = memberships.filter(role=Role.PARTNER_ADMIN).values("partner_id")
    merchant_ids = memberships.filter(role=Role.MERCHANT_ADMIN).values("merchant_id")
    return Merchant.objects.filter(Q(partner_id__in=partner_ids) | Q(pk__in=merchant_ids))


def partners_for(user) -> QuerySet[Partner]:
    if not user.is_authenticated:
        return Partner.objects.none()
    if user.is_staff:
        return Partner.objects.all()
    return Partner.objects.filter(
        pk__in=user.memberships.filter(role=Role.PARTNER_ADMIN).values("partner_id")
    )


def merchant_or_404(user, slug: str) -> Merchant:
    merchant = merchants_for(user).filter(slug=slug).select_related("partner").first()
    if merchant is None:
        raise Http404("No such merchant.")
    return merchant


def partner_or_404(user, slug: str) -> Partner:
    partner = partners_for(user).filter(slug=slug).first()
    if partner is None:
        raise Http404("No such partner.")
    return partner


def may_see_patient_data(user, merchant: Merchant | None = None) -> bool:
    """Patient data (a pharmacy's prescriptions, pickups, signatures, its PHI access log) is for
    SystemAdmins and the merchant admins of that pharmacy (of any pharmacy, without `merchant`);
    never for partner admins (minimum necessary)."""
    if not user.is_authenticated:
        return False
    if merchant is not None and merchant.vertical != Vertical.PHARMACY:
        return False
    if user.is_staff:
        return True
    admins = user.memberships.filter(role=Role.MERCHANT_ADMIN)
    if merchant is not None:
        return admins.filter(merchant=merchant).exists()
    return admins.filter(merchant__vertical=Vertical.PHARMACY).exists()


def patient_data_merchant_or_404(user, slug: str) -> Merchant:
    """The pharmacy whose patient data `user` may see, or 404 (as any merchant out of scope)."""
    merchant = merchant_or_404(user, slug)
    if not may_see_patient_data(user, merchant):
        raise Http404("No such merchant.")
    return merchant


def may_refund(user, merchant: Merchant) -> bool:
    """Money goes back to a card only at the hand of the merchant's own admins: not its partner's
    admins (who see its pages), not SystemAdmins (who operate the hub, not the store)."""
    return user.is_authenticated and user.memberships.filter(role=Role.MERCHANT_ADMIN, merchant=merchant).exists()


def two_factor_required(user) -> bool:
    """Whether `user` must sign in with a second factor (when TWO_FACTOR_REQUIRED is on): SystemAdmins,
    partner admins (hundreds of stores each), and merchant admins who can see patient data. Other
    merchant admins may turn it on for themselves."""
    if not settings.TWO_FACTOR_REQUIRED or not user.is_authenticated:
        return False
    if user.is_staff or may_see_patient_data(user):
        return True
    return user.memberships.filter(role=Role.PARTNER_ADMIN).exists()
