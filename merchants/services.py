"""Creating merchants (tenants) and their locations and memberships; a user's portal language."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from merchants.models import Domain, Location, Membership, Merchant, Module, Role, UserPreference
from merchants.schemas.template import schema_clone
from partners.models import Partner
from qiiub.errors import ValidationFailed

logger = logging.getLogger(__name__)

TENANT_DOMAIN_SUFFIX = "qiiub.localhost"


def schema_name_for(slug: str) -> str:
    return "m_" + slug.replace("-", "_")


def merchant_create(
    *,
    name: str,
    slug: str,
    vertical: str,
    partner: Partner | None = None,
    module_codes: list[str] | None = None,
    locations: list[tuple[str, str, str]] | None = None,
    language: str = "es",
) -> Merchant:
    """Create the merchant, its schema (a clone of the template, at the latest migration), its
    domain, modules and locations, in one transaction: a failure leaves neither row nor schema."""
    with transaction.atomic():
        merchant = Merchant.objects.create(
            schema_name=schema_name_for(slug), name=name, slug=slug, vertical=vertical, partner=partner,
            language=language,
        )
        schema_clone(merchant.schema_name)
        Domain.objects.create(domain=f"{slug}.{TENANT_DOMAIN_SUFFIX}", tenant=merchant, is_primary=True)
        if module_codes:
            merchant.modules.set(Module.objects.filter(code__in=module_codes))
        Location.objects.bulk_create(
            [
                Location(merchant=merchant, code=code, name=location_name, municipality=municipality)
                for code, location_name, municipality in (locations or [])
            ]
        )
    logger.info("merchant.created", extra={"merchant_id": merchant.pk, "schema": merchant.schema_name})
    return merchant


def membership_grant(*, user, role: str, partner: Partner | None = None, merchant: Merchant | None = None) -> Membership:
    membership, _ = Membership.objects.get_or_create(
        user=user,
        role=role,
        partner=partner if role == Role.PARTNER_ADMIN else None,
        merchant=merchant if role == Role.MERCHANT_ADMIN else None,
    )
    return membership


def user_language_set(*, user, language: str) -> UserPreference:
    """Save the portal language a user chose; blank means automatic (see merchants.selectors.user_language).
    An unknown code is refused and nothing is stored."""
    language = (language or "").strip()
    if language and language not in dict(settings.LANGUAGES):
        offered = ", ".join(code for code, _name in settings.LANGUAGES)
        raise ValidationFailed(
            gettext("Unknown language “%(code)s”: choose one of %(offered)s.") % {"code": language[:20], "offered": offered},
            field_errors={"language": [gettext("Choose a language from the list.")]},
            code="unknown_language",
        )
    preference, _created = UserPreference.objects.update_or_create(user=user, defaults={"language": language})
    logger.info("user.language_set", extra={"user_id": user.pk, "language": language or "automatic"})
    return preference
