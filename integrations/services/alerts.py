"""Alert emails about merchant integrations, sent after the change that caused them commits.

A merchant's admins read theirs in the merchant's language; SystemAdmins and partner admins each in
their own (`merchants.selectors.user_language`: English unless they chose Spanish). Stored
diagnostics (the last error) are put into words in the reader's language. The emails themselves
are templates under templates/email/, sent by qiiub.mail."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy

from integrations.models import MerchantIntegration, Problem, Status
from merchants.models import Role
from merchants.selectors import emails_by_language, merchant_admin_emails
from partners.models import Partner
from qiiub.mail import email_send

logger = logging.getLogger(__name__)


def send_auto_pause_alert(*, integration_id: int) -> None:
    integration = MerchantIntegration.objects.select_related("merchant", "definition", "location").get(
        pk=integration_id
    )
    recipients = merchant_admin_emails(integration.merchant_id)
    if not recipients:
        logger.warning("integration.alert_no_recipients", extra={"integration_id": integration_id})
        return
    email_send(kind="integration_paused", to=recipients, language=integration.merchant.language,
               context=_alert_context(integration))
    logger.info("integration.alert_sent", extra={"integration_id": integration_id, "kind": "auto_pause"})


def send_review_alert(*, integration_id: int) -> None:
    """10+ failures in a row: the integration enters SystemAdmins' review queue (once per incident)."""
    integration = MerchantIntegration.objects.select_related("merchant", "definition").get(pk=integration_id)
    staff = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    recipients = emails_by_language(staff)
    if not recipients:
        logger.warning("integration.alert_no_recipients", extra={"integration_id": integration_id, "kind": "review"})
        return
    for language, emails in recipients.items():
        email_send(kind="integration_review", to=emails, language=language, context=_alert_context(integration))
    logger.info("integration.alert_sent", extra={"integration_id": integration_id, "kind": "review"})


def _alert_context(integration: MerchantIntegration) -> dict:
    return {"name": integration.definition.name, "merchant": integration.merchant.name,
            "count": integration.consecutive_error_count, "error": _last_error(integration)}


def _last_error(integration: MerchantIntegration):
    """The cause of its latest open problem, put into words in the language the email renders in."""
    problem = integration.problems.filter(resolved_at__isnull=True).order_by("-last_seen_at").first()
    return _in_words(problem) if problem else "—"


def _in_words(problem: Problem, *, strip_period: bool = False):
    return lazy(lambda: problem.cause_text.rstrip(".") if strip_period else problem.cause_text, str)()


def partner_digests_send(*, today=None) -> int:
    """Once a day, each partner's admins get one email listing their stores' integrations that need
    attention (error, paused, in review, or failing in the last 24 h), grouped by integration and
    cause; nothing when all is well. Returns how many partners got their digest."""
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
        recipients = emails_by_language(get_user_model().objects.filter(
            memberships__role=Role.PARTNER_ADMIN, memberships__partner=partner).distinct())
        # Claimed before sending: a second run the same day (two beats, a retry) sends nothing.
        if not Partner.objects.filter(pk=partner.pk).filter(
                Q(last_digest_on__isnull=True) | Q(last_digest_on__lt=today)).update(last_digest_on=today):
            continue
        if not troubled or not recipients:
            continue
        context = {"partner": partner.name, "count": len(troubled), "groups": _digest_groups(troubled)}
        for language, emails in recipients.items():
            email_send(kind="partner_digest", to=emails, language=language, context=context)
        sent += 1
    return sent


@dataclass
class DigestGroup:
    """One line of a digest: an integration in one state for one cause, and the stores it affects.
    `state` and `cause` are put into words when the email renders, in its reader's language."""

    name: str
    state: object
    cause: object
    stores: list[str] = field(default_factory=list)


def _digest_groups(troubled) -> list[DigestGroup]:
    """One group per integration, state and cause: one vendor outage reads as one line."""
    groups: dict[tuple[str, str, str], DigestGroup] = {}
    for integration in troubled:
        state_key = "review" if integration.needs_review else integration.status
        problem = integration.open_problems[0] if integration.open_problems else None
        if problem is not None:
            cause_key, cause = json.dumps(problem.cause, sort_keys=True), _in_words(problem, strip_period=True)
        elif integration.status == Status.PAUSED:
            cause_key, cause = "paused", gettext_lazy("paused by a person")
        else:
            cause_key, cause = "none", gettext_lazy("no open problem")
        group = groups.setdefault((integration.definition.name, state_key, cause_key), DigestGroup(
            name=integration.definition.name, state=_state_in_words(integration), cause=cause))
        group.stores.append(integration.merchant.name)
    return list(groups.values())


def _state_in_words(integration: MerchantIntegration):
    if integration.needs_review:
        return gettext_lazy("in review")
    label = Status(integration.status).label
    return lazy(lambda: str(label).lower(), str)()
