"""A partner asks its stores' admins to act: connect accounting or tax filing, or reconnect an
integration the vendor no longer accepts. One email per store, to its admins, in the store's
language; only stores of the partner."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from integrations.inbox import partner_coverage
from merchants.models import Merchant
from merchants.selectors import merchant_admin_emails
from qiiub.errors import ValidationFailed

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
    sent = 0
    for merchant in Merchant.objects.filter(pk__in=stores, partner=partner).order_by("name"):
        recipients = merchant_admin_emails(merchant.pk)
        if not recipients:
            continue
        with translation.override(merchant.language):
            subject, body = _reminder(topic, partner, merchant, stores[merchant.pk])
            body = body.replace("{base}", (base_url or settings.PUBLIC_BASE_URL).rstrip("/"))
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        sent += 1
    logger.info("partner.stores_reminded", extra={"partner_id": partner.pk, "topic": topic, "stores": sent,
                                                   "by": getattr(by, "pk", None)})
    return sent


def _reminder(topic: str, partner, merchant, names: list[str]) -> tuple[str, str]:
    words = {"partner": partner.name, "store": merchant.name, "names": ", ".join(names)}
    if topic == "reconnect":
        subject = _("%(store)s: reconnect %(names)s in QIIUB") % words
        text = _("%(names)s no longer accepts %(store)s's connection, so nothing reaches it. Open the "
                 "integration in the QIIUB portal and reconnect it; syncing resumes from where it stopped.") % words
        page = reverse("portal:issues", args=[merchant.slug])
    elif topic == "accounting":
        subject = _("%(store)s: connect your accounting in QIIUB") % words
        text = _("%(partner)s noticed that %(store)s's sales do not reach an accounting system yet. Connect one "
                 "from the QIIUB portal's catalog (QuickBooks, Xero…).") % words
        page = reverse("portal:catalog", args=[merchant.slug])
    else:
        subject = _("%(store)s: set up IVU filing in QIIUB") % words
        text = _("%(partner)s noticed that %(store)s has no tax filing set up yet. Enable the SURI IVU return "
                 "from the QIIUB portal's catalog.") % words
        page = reverse("portal:catalog", args=[merchant.slug])
    return subject, f"{text}\n\n{{base}}{page}"
