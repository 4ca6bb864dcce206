"""A partner asks its stores' admins to act: connect accounting or tax filing, or reconnect an
integration the vendor no longer accepts. One email per store, to its admins, in the store's
language; only stores of the partner."""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from integrations.inbox import partner_coverage
from merchants.models import Merchant
from merchants.selectors import merchant_admin_emails
from qiiub.errors import ValidationFailed
from qiiub.mail import email_send

logger = logging.getLogger(__name__)

TOPICS = ("accounting", "tax", "reconnect")


def store_admins_remind(*, partner, topic: str, by, base_url: str = "") -> int:
    """Email the admins of every store the partner's coverage lists under `topic`; returns how many
    stores were emailed (a store with no admin email is skipped)."""
    if topic not in TOPICS:
        raise ValidationFailed(_("Choose what to remind the stores of."), code="unknown_topic")
    coverage = partner_coverage(partner)
    if topic == "reconnect":
        stores: dict[int, list[str]] = {}
        for integration in coverage.reconnect:
            stores.setdefault(integration.merchant_id, []).append(integration.definition.name)
    else:
        stores = {merchant.pk: [] for merchant in coverage.without[topic]}
    base = (base_url or settings.PUBLIC_BASE_URL).rstrip("/")
    sent = 0
    for merchant in Merchant.objects.filter(pk__in=stores, partner=partner).order_by("name"):
        recipients = merchant_admin_emails(merchant.pk)
        if not recipients:
            continue
        page = reverse("portal:issues" if topic == "reconnect" else "portal:catalog", args=[merchant.slug])
        email_send(kind="store_reminder", to=recipients, language=merchant.language, context={
            "topic": topic, "partner": partner.name, "store": merchant.name, "names": ", ".join(stores[merchant.pk]),
            "link": f"{base}{page}"})
        sent += 1
    logger.info("partner.stores_reminded", extra={"partner_id": partner.pk, "topic": topic, "stores": sent,
                                                   "by": getattr(by, "pk", None)})
    return sent
