"""An integration's health: a success ends a failure streak; failures count, and the third in a
row auto-pauses (and emails the merchant's admins), the tenth puts it in SystemAdmin's review queue."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.models import MerchantIntegration, PausedReason, Status
from integrations.services import alerts, problems
from integrations.services.transitions import integration_locked, transition_write
from qiiub.errors import NotAllowed
from qiiub.http import AuthExpired, ConnectorError
from qiiub.messages import Message
from qiiub.metrics.counters import AUTO_PAUSES
from qiiub.retry import AUTO_PAUSE_AFTER_FAILURES, REVIEW_AFTER_FAILURES

logger = logging.getLogger(__name__)



RECORD_SUCCESS_EVERY = timedelta(minutes=1)  # a busy, healthy integration is not rewritten per event


def merchant_integration_record_success(*, integration: MerchantIntegration) -> None:
    """A success ends the failure streak and clears the review flag.

    `integration` is as the caller read it just before calling the vendor: when it shows nothing to
    clear and a fresh `last_sync_at`, a busy, healthy integration is not written at all (this runs
    once per delivered event). Otherwise one UPDATE; if another worker cleared it meanwhile, writing
    the same values again is harmless.
    """
    now = timezone.now()
    streak = integration.consecutive_error_count or integration.needs_review or integration.review_acknowledged_at
    if not streak and integration.last_sync_at and now - integration.last_sync_at < RECORD_SUCCESS_EVERY:
        return
    MerchantIntegration.objects.filter(pk=integration.pk).update(
        last_sync_at=now, consecutive_error_count=0, needs_review=False, review_acknowledged_at=None, updated_at=now
    )
    if streak:  # failures open problems only along with a streak: without one, none is open
        problems.success_clears(integration=integration)


@transaction.atomic
def merchant_integration_record_failure(
    *, integration: MerchantIntegration, error: ConnectorError
) -> MerchantIntegration:
    """Count a failed sync: expired credentials → error; the 3rd failure in a row auto-pauses and
    emails the merchant's admins; 10 or more flag it for SystemAdmin review."""
    integration = integration_locked(integration)
    integration.consecutive_error_count += 1
    problems.failure_seen(integration=integration, error=error)
    if (integration.consecutive_error_count >= REVIEW_AFTER_FAILURES and not integration.needs_review
            and not integration.review_acknowledged_at):
        # Into the review queue: SystemAdmins hear of it once, until a success ends the incident.
        integration.needs_review = True
        transaction.on_commit(lambda: alerts.send_review_alert(integration_id=integration.pk))
    integration.save()
    logger.warning(
        "integration.sync_failed",
        extra={
            "integration_id": integration.pk,
            "error_code": error.code,
            "consecutive": integration.consecutive_error_count,
        },
    )
    if integration.status != Status.ACTIVE:
        return integration
    if isinstance(error, AuthExpired):
        integration.last_test_ok = False
        transition_write(integration, Status.ERROR, by=None,
                         reason=Message("credentials_refused_by", {"error": error.stored()}))
    elif integration.consecutive_error_count >= AUTO_PAUSE_AFTER_FAILURES:
        integration.paused_reason = PausedReason.AUTO
        integration.last_test_ok = False
        transition_write(
            integration,
            Status.PAUSED,
            by=None,
            reason=Message("auto_paused", {"count": integration.consecutive_error_count, "error": error.stored()}),
        )
        transaction.on_commit(lambda: alerts.send_auto_pause_alert(integration_id=integration.pk))
        connector = integration.definition.code
        transaction.on_commit(lambda: AUTO_PAUSES.add(connector=connector))
    return integration


@transaction.atomic
def merchant_integration_acknowledge_review(*, integration: MerchantIntegration, by: AbstractBaseUser) -> MerchantIntegration:
    """A SystemAdmin takes the failure streak in hand: out of the review queue, and not flagged
    again (nor alerted) until a success ends this streak."""
    integration = integration_locked(integration)
    if not integration.needs_review:
        raise NotAllowed(_("This integration is not in the review queue."), code="not_in_review")
    integration.needs_review = False
    integration.review_acknowledged_at = timezone.now()
    integration.save(update_fields=["needs_review", "review_acknowledged_at", "updated_at"])
    logger.info("integration.review_acknowledged", extra={"integration_id": integration.pk, "by": by.pk})
    return integration
