"""Status changes of merchant integrations: the transitions allowed, the one writer that makes
them (one row or many, each with its audit row), and the moves a person asks for: activate,
pause, resume, force-pause every installation.

States: configuring → active ⇄ paused, error; disconnected keeps the row (watermark, mappings)
so re-enabling resumes where it left off. Each change is checked against `ALLOWED_TRANSITIONS`,
applied in one transaction with its audit row, and refused with `InvalidTransition` otherwise.
Refusals are written in the language of whoever asked (ADR 0020); what is stored (audit reasons,
the last error) stays in English.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from events.replay import release_held_deliveries
from integrations.models import (
    IntegrationDefinition,
    IntegrationStatusTransition,
    MerchantIntegration,
    PausedReason,
    Status,
)
from integrations.services import schedules
from integrations.signals import integrations_changed
from qiiub.errors import InvalidTransition, NotAllowed
from qiiub.messages import Message, free_text
from qiiub.schemas import validate_against

logger = logging.getLogger(__name__)

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    "": {Status.CONFIGURING},  # enable: discovered → configuring
    Status.CONFIGURING: {Status.ACTIVE, Status.DISCONNECTED},
    Status.ACTIVE: {Status.PAUSED, Status.ERROR, Status.DISCONNECTED},
    Status.PAUSED: {Status.ACTIVE, Status.DISCONNECTED},
    Status.ERROR: {Status.ACTIVE, Status.PAUSED, Status.DISCONNECTED},
    Status.DISCONNECTED: {Status.CONFIGURING},
}



def transition_check(from_status: str, to_status: str) -> None:
    if to_status not in ALLOWED_TRANSITIONS.get(from_status, set()):
        raise InvalidTransition(
            _("Cannot go from %(source)s to %(target)s.")
            % {"source": Status(from_status).label if from_status else _("not enabled"),
               "target": Status(to_status).label},
            extra={"from": from_status, "to": to_status},
        )


def _audit_row(
    integration: MerchantIntegration, from_status: str, to_status: str, *, by: AbstractBaseUser | None,
    reason: Message,
) -> IntegrationStatusTransition:
    return IntegrationStatusTransition(
        merchant_integration=integration,
        from_status=from_status,
        to_status=to_status,
        reason_code=reason.code,
        reason_params=reason.params,
        actor=by if by is not None and by.is_authenticated else None,
    )


def transitions_write(
    integrations: list[MerchantIntegration], to_status: str, *, by: AbstractBaseUser | None, reason: Message | str
) -> None:
    """The one writer of status changes: move each of `integrations` (locked by the caller; a new one
    unsaved) to `to_status` and record who, when, from, to, why, in a fixed number of statements
    however many there are. Fields a caller changed on a row are saved with it. `reason` is a
    message code and its parameters, or the words a person typed."""
    if isinstance(reason, str):
        reason = free_text(reason)
    from_statuses = [integration.status if integration.pk else "" for integration in integrations]
    for from_status in from_statuses:
        transition_check(from_status, to_status)
    now = timezone.now()
    for integration in integrations:
        integration.status, integration.updated_at = to_status, now
    new = [integration for integration in integrations if integration.pk is None]
    kept = [integration for integration in integrations if integration.pk is not None]
    MerchantIntegration.objects.bulk_create(new)
    if kept:
        MerchantIntegration.objects.bulk_update(kept, _SAVED_FIELDS)
    integrations_changed_announce(integrations)
    IntegrationStatusTransition.objects.bulk_create(
        _audit_row(integration, from_status, to_status, by=by, reason=reason)
        for integration, from_status in zip(integrations, from_statuses, strict=True))
    for integration, from_status in zip(integrations, from_statuses, strict=True):
        logger.info("integration.transition",
                    extra={"integration_id": integration.pk, "from": from_status, "to": to_status})


# Every field a caller may change before a transition (all but the key and the creation time).
_SAVED_FIELDS = [field.name for field in MerchantIntegration._meta.concrete_fields
                 if not field.primary_key and field.name != "created_at"]


def transition_write(
    integration: MerchantIntegration, to_status: str, *, by: AbstractBaseUser | None, reason: Message | str
) -> None:
    transitions_write([integration], to_status, by=by, reason=reason)


def _schedule_from_now(integration: MerchantIntegration) -> None:
    # Active again: poll at once, and run batches at their next scheduled time.
    now = timezone.now()
    integration.next_poll_at = now
    integration.next_batch_at = schedules.next_batch_at(integration, after=now)


def integrations_changed_announce(integrations: list[MerchantIntegration]) -> None:
    integrations_changed.send(sender=MerchantIntegration, integrations=integrations)


def integration_locked(integration: MerchantIntegration) -> MerchantIntegration:
    # Only this row, and NO KEY: deliveries and sync logs that reference it can still be inserted.
    return MerchantIntegration.objects.select_for_update(of=("self",), no_key=True).select_related(
        "definition", "merchant"
    ).get(
        pk=integration.pk
    )


@transaction.atomic
def merchant_integration_activate(
    *, integration: MerchantIntegration, by: AbstractBaseUser | None
) -> MerchantIntegration:
    """configuring / error → active, only with valid configuration and a passing test of the
    current credentials and configuration. A paused integration comes back through `resume`."""
    integration = integration_locked(integration)
    if integration.status not in (Status.CONFIGURING, Status.ERROR):
        raise InvalidTransition(
            _("Only an integration being configured or in error can be activated; this one is %(status)s.")
            % {"status": integration.get_status_display().lower()}
        )
    _refuse_if_forced(integration, by)
    if not integration.last_test_ok:
        raise NotAllowed(_("Test the connection successfully before activating."), code="test_required")
    validate_against(integration.definition.configuration_schema, integration.configuration,
                     refusal=_("The configuration is not valid: fix the fields marked."))
    integration.paused_reason = ""
    _schedule_from_now(integration)
    transition_write(integration, Status.ACTIVE, by=by, reason=Message("activated"))
    release_held_deliveries(integration=integration)
    return integration


@transaction.atomic
def merchant_integration_pause(
    *, integration: MerchantIntegration, by: AbstractBaseUser | None, reason: str = "", forced: bool = False
) -> MerchantIntegration:
    integration = integration_locked(integration)
    integration.paused_reason = PausedReason.FORCED if forced else PausedReason.MANUAL
    if forced:
        integration.last_test_ok = False  # lifting a forced pause needs a fresh test too
    transition_write(integration, Status.PAUSED, by=by, reason=reason or Message("force_paused" if forced else "paused"))
    return integration


def _refuse_if_forced(integration: MerchantIntegration, by: AbstractBaseUser | None) -> None:
    if integration.paused_reason == PausedReason.FORCED and not (by is not None and by.is_staff):
        raise NotAllowed(_("QIIUB operations paused this integration; only they can resume it."), code="forced_pause")


@transaction.atomic
def merchant_integration_resume(
    *, integration: MerchantIntegration, by: AbstractBaseUser | None
) -> MerchantIntegration:
    """paused → active. A healthy manual pause resumes with a click; otherwise (after failures, an
    error, a change of settings, or a forced pause) only with a passing test of what is current,
    and a forced pause only by a SystemAdmin. The failure counter resets on the next good sync."""
    integration = integration_locked(integration)
    if integration.status != Status.PAUSED:
        raise InvalidTransition(
            _("Only a paused integration can be resumed; this one is %(status)s.")
            % {"status": integration.get_status_display().lower()}
        )
    _refuse_if_forced(integration, by)
    if not integration.last_test_ok:
        raise NotAllowed(
            _("Test the connection first; once it passes, resume."),
            code="test_required",
        )
    integration.paused_reason = ""
    _schedule_from_now(integration)
    transition_write(integration, Status.ACTIVE, by=by, reason=Message("resumed"))
    release_held_deliveries(integration=integration)
    return integration


@transaction.atomic
def definition_force_pause_all(*, definition: IntegrationDefinition, by: AbstractBaseUser, reason: str) -> int:
    """SystemAdmin: pause every active (or erroring) installation of a definition, through the lifecycle."""
    count = 0
    for integration in MerchantIntegration.objects.select_for_update().filter(
        definition=definition, status__in=[Status.ACTIVE, Status.ERROR]
    ):
        integration.paused_reason = PausedReason.FORCED
        transition_write(integration, Status.PAUSED, by=by, reason=reason or Message("force_paused"))
        count += 1
    return count
