"""Alert emails about merchant integrations, sent after the change that caused them commits.

A merchant's admins read theirs in the merchant's language; SystemAdmins and partner admins read
English, as the portal speaks to them by default. Stored diagnostics (the last error) stay as they
were recorded."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Prefetch, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from integrations.models import MerchantIntegration, Problem, Status
from merchants.models import Role
from merchants.selectors import merchant_admin_emails
from partners.models import Partner

logger = logging.getLogger(__name__)


def send_auto_pause_alert(*, integration_id: int) -> None:
    integration = MerchantIntegration.objects.select_related("merchant", "definition", "location").get(
        pk=integration_id
    )
    recipients = merchant_admin_emails(integration.merchant_id)
    if not recipients:
        logger.warning("integration.alert_no_recipients", extra={"integration_id": integration_id})
        return
    with translation.override(integration.merchant.language):
        names = {"name": integration.definition.name, "merchant": integration.merchant.name,
                 "count": integration.consecutive_error_count}
        subject = _("%(name)s was paused after repeated failures") % names
        body = (
            _("%(name)s for %(merchant)s failed %(count)s times in a row and was paused so nothing is lost.") % names
            + "\n\n" + _("Last error: %(error)s") % {"error": _last_error(integration)} + "\n\n"
            + _("To fix it: open the integration in the QIIUB portal, correct the credentials or settings, "
                "test the connection, then resume. Syncing continues from where it stopped.")
        )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    logger.info("integration.alert_sent", extra={"integration_id": integration_id, "kind": "auto_pause"})


def _last_error(integration: MerchantIntegration) -> str:
    """The cause of its latest open problem, in the active language."""
    problem = integration.problems.filter(resolved_at__isnull=True).order_by("-last_seen_at").first()
    return problem.cause_text if problem else "—"


def _staff_emails() -> list[str]:
    return sorted(set(get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
                      .values_list("email", flat=True)))


def send_review_alert(*, integration_id: int) -> None:
    """10+ failures in a row: the integration enters SystemAdmins' review queue (once per incident)."""
    integration = MerchantIntegration.objects.select_related("merchant", "definition").get(pk=integration_id)
    recipients = _staff_emails()
    if not recipients:
        logger.warning("integration.alert_no_recipients", extra={"integration_id": integration_id, "kind": "review"})
        return
    send_mail(
        f"Review needed: {integration.definition.name} for {integration.merchant.name}",
        f"{integration.definition.name} for {integration.merchant.name} has failed "
        f"{integration.consecutive_error_count} times in a row.\n\nLast error: {_last_error(integration)}\n\n"
        "It is in the review queue of the Django admin (Merchant integrations, filter 'needs review').",
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
    logger.info("integration.alert_sent", extra={"integration_id": integration_id, "kind": "review"})


def partner_digests_send(*, today=None) -> int:
    """Once a day, each partner's admins get one email listing their stores' integrations that need
    attention (error, paused, in review, or failing in the last 24 h), grouped by integration and
    cause; nothing when all is well. Returns how many digests went out."""
    today = today or timezone.now().date()
    since = timezone.now() - timedelta(hours=24)
    sent = 0
    for partner in Partner.objects.filter(Q(last_digest_on__isnull=True) | Q(last_digest_on__lt=today)):
        troubled = list(
            MerchantIntegration.objects.filter(merchant__partner=partner)
            .filter(Q(status__in=[Status.ERROR, Status.PAUSED]) | Q(needs_review=True)
                    | Q(problems__last_seen_at__gte=since)).distinct()
            .select_related("merchant", "definition").prefetch_related(Prefetch(
                "problems", queryset=Problem.objects.filter(resolved_at__isnull=True).order_by("-last_seen_at"),
                to_attr="open_problems"))
            .order_by("definition__name", "merchant__name")
        )
        recipients = sorted(set(get_user_model().objects.filter(
            is_active=True, memberships__role=Role.PARTNER_ADMIN, memberships__partner=partner).exclude(email="")
            .values_list("email", flat=True)))
        # Claimed before sending: a second run the same day (two beats, a retry) sends nothing.
        if not Partner.objects.filter(pk=partner.pk).filter(
                Q(last_digest_on__isnull=True) | Q(last_digest_on__lt=today)).update(last_digest_on=today):
            continue
        if not troubled or not recipients:
            continue
        send_mail(f"{partner.name}: {len(troubled)} integrations need attention", _digest_body(troubled),
                  settings.DEFAULT_FROM_EMAIL, recipients)
        sent += 1
    return sent


def _digest_body(troubled) -> str:
    """One line per integration and cause, with the stores it affects: one vendor outage reads as one."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for integration in troubled:
        state = "in review" if integration.needs_review else integration.get_status_display().lower()
        problem = integration.open_problems[0] if integration.open_problems else None
        cause = problem.cause_text.rstrip(".") if problem else (
            "paused by a person" if integration.status == Status.PAUSED else "no open problem")
        groups.setdefault((integration.definition.name, state, cause), []).append(integration.merchant.name)
    lines = [f"- {name} ({state}) at {len(stores)} store{'s' * (len(stores) > 1)}: {cause}.\n"
             f"  {', '.join(stores)}" for (name, state, cause), stores in groups.items()]
    return ("These integrations of your stores need attention:\n\n" + "\n".join(lines)
            + "\n\nOpen the partner portal to see each one, its last error and what to do.")
