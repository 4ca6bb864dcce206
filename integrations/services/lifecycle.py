"""The merchant-integration lifecycle: every status change happens here, and only here.

States: configuring → active ⇄ paused, error; disconnected keeps the row (watermark, mappings)
so re-enabling resumes where it left off. Each change is checked against `ALLOWED_TRANSITIONS`,
applied in one transaction with its audit row, and refused with `InvalidTransition` otherwise.

Refusals are written in the language of whoever asked (ADR 0020); what is stored (audit reasons,
the last error, a bulk job's outcomes) stays in English.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.connectors.base import AuthExpired, ConnectorError
from integrations.connectors.registry import connector_for, connects_with_oauth
from integrations.events.services import release_held_deliveries
from integrations.models import (
    DefinitionStatus,
    IntegrationDefinition,
    IntegrationMapping,
    IntegrationStatusTransition,
    IntegrationType,
    MerchantIntegration,
    PausedReason,
    Scope,
    Status,
)
from integrations.services import alerts, schedules
from integrations.services.config import partial_schema_errors, validate_against, with_schema_defaults
from merchants.models import Location, Merchant, Vertical
from qiiub.errors import InvalidTransition, NotAllowed, ValidationFailed
from qiiub.vault import VaultUnavailable, get_vault, new_vault_key

logger = logging.getLogger(__name__)

AUTO_PAUSE_AFTER_FAILURES = 3  # seed rule: 1–2 failures are logged and retried, the 3rd pauses + emails
REVIEW_AFTER_FAILURES = 10  # seed rule: 10 or more consecutive failures go to SystemAdmin review

ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    "": {Status.CONFIGURING},  # enable: discovered → configuring
    Status.CONFIGURING: {Status.ACTIVE, Status.DISCONNECTED},
    Status.ACTIVE: {Status.PAUSED, Status.ERROR, Status.DISCONNECTED},
    Status.PAUSED: {Status.ACTIVE, Status.DISCONNECTED},
    Status.ERROR: {Status.ACTIVE, Status.PAUSED, Status.DISCONNECTED},
    Status.DISCONNECTED: {Status.CONFIGURING},
}


def _check_transition(from_status: str, to_status: str) -> None:
    if to_status not in ALLOWED_TRANSITIONS.get(from_status, set()):
        raise InvalidTransition(
            _("Cannot go from %(source)s to %(target)s.")
            % {"source": Status(from_status).label if from_status else _("not enabled"),
               "target": Status(to_status).label},
            extra={"from": from_status, "to": to_status},
        )


def _audit_row(
    integration: MerchantIntegration, from_status: str, to_status: str, *, by: AbstractBaseUser | None, reason: str
) -> IntegrationStatusTransition:
    return IntegrationStatusTransition(
        merchant_integration=integration,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        actor=by if by is not None and by.is_authenticated else None,
    )


def _transition(
    integration: MerchantIntegration, to_status: str, *, by: AbstractBaseUser | None, reason: str
) -> None:
    """Move `integration` (locked by the caller) to `to_status` and record who, when, from, to, why."""
    from_status = integration.status if integration.pk else ""
    _check_transition(from_status, to_status)
    integration.status = to_status
    integration.save()
    _pos_config_changed(integration)
    _audit_row(integration, from_status, to_status, by=by, reason=reason).save()
    logger.info(
        "integration.transition",
        extra={"integration_id": integration.pk, "from": from_status, "to": to_status},
    )


def _schedule_from_now(integration: MerchantIntegration) -> None:
    # Active again: poll at once, and run batches at their next scheduled time.
    now = timezone.now()
    integration.next_poll_at = now
    integration.next_batch_at = schedules.next_batch_at(integration, after=now)


def _pos_config_changed(integration: MerchantIntegration) -> None:
    # A POS-level integration is part of its locations' terminal config (the terminal runs it).
    from devices.cascade import config_changed

    if integration.definition.integration_type == IntegrationType.POS:
        config_changed(integration.location or integration.merchant)


def _locked(integration: MerchantIntegration) -> MerchantIntegration:
    # Only this row, and NO KEY: deliveries and sync logs that reference it can still be inserted.
    return MerchantIntegration.objects.select_for_update(of=("self",), no_key=True).select_related(
        "definition", "merchant"
    ).get(
        pk=integration.pk
    )


def _refusal(definition: IntegrationDefinition, *, vertical: str, has_module: bool) -> tuple[str, str] | None:
    """(code, message) saying why a merchant of `vertical` may not enable `definition`, or None."""
    names = {"name": definition.name}
    if definition.status == DefinitionStatus.PLANNED:
        return "not_available", _("%(name)s is planned and not available yet.") % names
    if definition.status == DefinitionStatus.DEPRECATED:
        return "not_available", _("%(name)s is deprecated and can no longer be enabled.") % names
    if definition.scope == Scope.VERTICAL and definition.vertical_affinity != vertical:
        if definition.vertical_affinity == Vertical.PHARMACY:
            return "wrong_vertical", _("%(name)s is only for pharmacy merchants.") % names
        if definition.vertical_affinity == Vertical.RETAIL:
            return "wrong_vertical", _("%(name)s is only for retail merchants.") % names
        return "wrong_vertical", _("%(name)s is only for %(vertical)s merchants.") % {
            **names, "vertical": definition.vertical_affinity}
    if definition.required_module_id and not has_module:
        return "missing_module", _("%(name)s needs the module '%(module)s', which is not active.") % {
            **names, "module": definition.required_module.code}
    return None


def definition_refusal(*, merchant: Merchant, definition: IntegrationDefinition) -> str | None:
    """Why `merchant` may not enable `definition` anywhere (None when it may): status, vertical, module."""
    has_module = not definition.required_module_id or merchant.modules.filter(pk=definition.required_module_id).exists()
    refusal = _refusal(definition, vertical=merchant.vertical, has_module=has_module)
    return refusal[1] if refusal else None


def enable_refusal(
    *, merchant: Merchant, definition: IntegrationDefinition, location: Location | None = None
) -> str | None:
    """`definition_refusal`, plus where: a location of this merchant, required for per-location ones."""
    if refusal := definition_refusal(merchant=merchant, definition=definition):
        return refusal
    if location is not None and location.merchant_id != merchant.pk:
        return _("That location belongs to another merchant.")
    if definition.per_location and location is None:
        return _("%(name)s is set up per location: choose a location.") % {"name": definition.name}
    if not definition.per_location and location is not None:
        # One merchant-wide installation only: a second, per-location one could post the same sales twice.
        return _("%(name)s is set up once for all locations, not per location.") % {"name": definition.name}
    return None


@transaction.atomic
def merchant_integration_enable(
    *,
    merchant: Merchant,
    definition: IntegrationDefinition,
    location: Location | None = None,
    by: AbstractBaseUser | None,
) -> MerchantIntegration:
    """Enable a definition: copy the partner's default template in and start configuring."""
    if refusal := enable_refusal(merchant=merchant, definition=definition, location=location):
        raise NotAllowed(refusal)
    existing = (
        MerchantIntegration.objects.select_for_update()
        .filter(merchant=merchant, definition=definition, location=location)
        .first()
    )
    if existing is not None and existing.status != Status.DISCONNECTED:
        if location is not None:
            message = _("%(name)s is already enabled at %(location)s.") % {
                "name": definition.name, "location": location.name}
        else:
            message = _("%(name)s is already enabled for this merchant.") % {"name": definition.name}
        raise NotAllowed(message, code="already_enabled")
    if existing is not None:
        # Re-enabling: the kept configuration, mappings and watermark carry on.
        _transition(existing, Status.CONFIGURING, by=by, reason="Re-enabled")
        return existing

    template = _default_template(merchant, definition)
    configuration = with_schema_defaults(
        definition.configuration_schema, template.default_configuration if template else {}
    )
    integration = MerchantIntegration(
        merchant=merchant, location=location, definition=definition, configuration=configuration
    )
    try:
        with transaction.atomic():
            _transition(integration, Status.CONFIGURING, by=by, reason=_enable_reason(template))
    except IntegrityError:
        # Another request enabled it between our check and our insert (the unique constraint caught it).
        raise NotAllowed(_("%(name)s is already enabled.") % {"name": definition.name},
                         code="already_enabled") from None
    IntegrationMapping.objects.bulk_create(_template_mappings(template, [integration]))
    return integration


def _enable_reason(template) -> str:
    return f"Enabled from template '{template.name}'" if template else "Enabled"


def _template_mappings(template, integrations: list[MerchantIntegration]) -> list[IntegrationMapping]:
    """The template's default mappings, copied for each new installation."""
    rows = template.default_mappings if template else []
    return [
        IntegrationMapping(
            merchant_integration=integration,
            map_group=row["map_group"],
            source_code=row["source_code"],
            target_code=row["target_code"],
            source_entity_type=row.get("source_entity_type", ""),
            target_entity_type=row.get("target_entity_type", ""),
        )
        for integration in integrations for row in rows
    ]


@dataclass(frozen=True)
class EnableOutcome:
    """What enabling a definition does (or would do) for one merchant of a bulk job."""

    code: str  # enabled, already_enabled, not_available, wrong_vertical, missing_module, no_location, schema_error
    message: str

    @property
    def enables(self) -> bool:
        return self.code == "enabled"


def merchant_integrations_enable_many(
    *, merchants: list[Merchant], definition: IntegrationDefinition, template, by: AbstractBaseUser | None,
    dry_run: bool,
) -> dict[int, EnableOutcome]:
    """Enable `definition` for many merchants from `template` with the same rules as
    `merchant_integration_enable`, in a fixed number of statements however many merchants: per
    merchant, a refusal (vertical, module, availability), already enabled, a configuration the
    schema refuses (the template's, or the kept one of a disconnected installation), or enabled
    (every location, for a per-location definition). A dry run writes nothing. The outcomes are
    stored with the job, so the caller runs this in English (`partners.services.bulk`)."""
    schema = definition.configuration_schema
    template_configuration = with_schema_defaults(schema, template.default_configuration if template else {})
    template_problems = partial_schema_errors(schema, template_configuration)
    ids = [merchant.pk for merchant in merchants]
    with_module = set(Merchant.modules.through.objects.filter(
        merchant_id__in=ids, module_id=definition.required_module_id).values_list("merchant_id", flat=True)
    ) if definition.required_module_id else set(ids)
    places: dict[int, list[int | None]] = {merchant_id: [] if definition.per_location else [None] for merchant_id in ids}
    if definition.per_location:
        for merchant_id, location_id in Location.objects.filter(merchant_id__in=ids).values_list("merchant_id", "pk"):
            places[merchant_id].append(location_id)
    existing = {
        (row.merchant_id, row.location_id): row
        for row in MerchantIntegration.objects.select_for_update(of=("self",), no_key=True)
        .filter(definition=definition, merchant_id__in=ids)
    }
    outcomes: dict[int, EnableOutcome] = {}
    new: list[MerchantIntegration] = []
    reenabled: list[MerchantIntegration] = []
    for merchant in merchants:
        if refusal := _refusal(definition, vertical=merchant.vertical, has_module=merchant.pk in with_module):
            outcomes[merchant.pk] = EnableOutcome(*refusal)
            continue
        if not places[merchant.pk]:
            outcomes[merchant.pk] = EnableOutcome("no_location", f"{definition.name} is set up per location, and "
                                                                 f"{merchant.name} has no location yet.")
            continue
        kept = {location_id: existing.get((merchant.pk, location_id)) for location_id in places[merchant.pk]}
        fresh = [location_id for location_id, row in kept.items() if row is None]
        back = [row for row in kept.values() if row is not None and row.status == Status.DISCONNECTED]
        if not fresh and not back:
            outcomes[merchant.pk] = EnableOutcome("already_enabled", f"{definition.name} is already enabled.")
            continue
        problems = (template_problems if fresh else {}) | {
            path: messages for row in back for path, messages in partial_schema_errors(schema, row.configuration).items()}
        if problems:
            outcomes[merchant.pk] = EnableOutcome("schema_error", "The configuration is not valid: " + "; ".join(
                f"{path}: {' '.join(messages)}" for path, messages in problems.items()))
            continue
        where = f" at {len(fresh) + len(back)} location(s)" if definition.per_location else ""
        done = "would be enabled" if dry_run else "enabled"
        outcomes[merchant.pk] = EnableOutcome("enabled", f"{definition.name} {done}{where}; the store signs in to "
                                                         "activate it.")
        new += [MerchantIntegration(merchant=merchant, location_id=location_id, definition=definition,
                                    configuration=template_configuration, status=Status.CONFIGURING)
                for location_id in fresh]
        reenabled += back
    if dry_run:
        return outcomes
    for row in reenabled:
        _check_transition(row.status, Status.CONFIGURING)
    MerchantIntegration.objects.filter(pk__in=[row.pk for row in reenabled]).update(
        status=Status.CONFIGURING, updated_at=timezone.now())
    created = MerchantIntegration.objects.bulk_create(new)
    IntegrationStatusTransition.objects.bulk_create(
        [_audit_row(row, "", Status.CONFIGURING, by=by, reason=_enable_reason(template)) for row in created]
        + [_audit_row(row, Status.DISCONNECTED, Status.CONFIGURING, by=by, reason="Re-enabled") for row in reenabled])
    IntegrationMapping.objects.bulk_create(_template_mappings(template, created))
    logger.info("integration.enabled_many", extra={"definition": definition.code, "installed": len(created),
                                                   "reenabled": len(reenabled)})
    return outcomes


def _default_template(merchant: Merchant, definition: IntegrationDefinition):
    if merchant.partner_id is None:
        return None
    return definition.partner_templates.filter(partner_id=merchant.partner_id, is_default=True).first()


@transaction.atomic
def merchant_integration_configure(
    *, integration: MerchantIntegration, configuration: dict, by: AbstractBaseUser | None
) -> MerchantIntegration:
    integration = _locked(integration)
    if integration.status == Status.DISCONNECTED:
        raise InvalidTransition(_("This integration is disconnected: enable it again to configure it."))
    validate_against(integration.definition.configuration_schema, configuration,
                     refusal=_("The configuration is not valid: fix the fields marked."))
    if configuration != integration.configuration:
        integration.last_test_ok = False  # a passing test vouches only for what it tested
    integration.configuration = configuration
    integration.save(update_fields=["configuration", "last_test_ok", "updated_at"])
    _pos_config_changed(integration)
    logger.info("integration.configured", extra={"integration_id": integration.pk})
    return integration


def merchant_integration_set_credentials(
    *, integration: MerchantIntegration, credentials: dict, by: AbstractBaseUser | None
) -> MerchantIntegration:
    """Store credentials the merchant typed (checked against the definition's schema)."""
    integration.refresh_from_db()
    if connects_with_oauth(integration.definition_id):
        raise NotAllowed(_("Connect %(name)s from its page: it signs in with OAuth.")
                         % {"name": integration.definition.name}, code="oauth_only")
    schema = integration.definition.credentials_schema or {"type": "object"}
    validate_against(schema, credentials, refusal=_("The credentials are not valid: fix the fields marked."))
    integration = merchant_integration_replace_secret(integration=integration, secret=credentials)
    logger.info("integration.credentials_set", extra={"integration_id": integration.pk})
    return integration


def merchant_integration_replace_secret(*, integration: MerchantIntegration, secret: dict) -> MerchantIntegration:
    """Put new credentials (typed, or an OAuth grant) in the vault under a fresh key; the row keeps
    only that key, and they need a passing test before activation.

    The vault write happens before the database transaction (a remote vault must not be called
    while the row is locked); if the transaction then fails, the new secret is removed again.
    """
    vault = get_vault()
    new_key = new_vault_key(f"mi-{integration.pk}")
    vault.put(new_key, secret)
    try:
        with transaction.atomic():
            integration = _locked(integration)
            if integration.status == Status.DISCONNECTED:
                raise InvalidTransition(_("This integration is disconnected: enable it again to set credentials."))
            old_key = integration.credentials_vault_key
            integration.credentials_vault_key = new_key
            integration.credentials_set_at = timezone.now()
            integration.last_test_ok = False
            integration.save(update_fields=["credentials_vault_key", "credentials_set_at", "last_test_ok", "updated_at"])
            if old_key:
                _delete_secret_on_commit(old_key)
    except BaseException:
        _delete_secret(new_key)
        raise
    return integration


def _delete_secret(key: str) -> None:
    try:
        get_vault().delete(key)
    except VaultUnavailable:
        # The change itself stands; an unreachable vault only leaves an unreferenced secret behind.
        logger.warning("vault.delete_failed", extra={"vault_key": key})


def _delete_secret_on_commit(key: str) -> None:
    transaction.on_commit(lambda: _delete_secret(key), robust=True)


def _tested_fingerprint(integration: MerchantIntegration) -> str:
    """What a connection test vouches for: these credentials with this configuration."""
    # The time the credentials were set, not their vault key: a refreshed OAuth grant gets a new
    # key and is still the same connection.
    set_at = integration.credentials_set_at.isoformat() if integration.credentials_set_at else ""
    material = json.dumps([set_at, integration.configuration], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


def merchant_integration_test_connection(
    *, integration: MerchantIntegration, by: AbstractBaseUser | None
) -> ConnectorError | None:
    """Call the vendor (outside any transaction) and record the outcome; returns the error, if any."""
    integration.refresh_from_db()
    if not integration.credentials_vault_key and connects_with_oauth(integration.definition_id):
        raise ValidationFailed(_("Connect %(name)s before testing the connection.")
                               % {"name": integration.definition.name}, code="no_credentials")
    if not integration.credentials_vault_key and integration.definition.credentials_schema.get("required"):
        raise ValidationFailed(_("Enter the credentials before testing the connection."), code="no_credentials")
    tested = _tested_fingerprint(integration)
    failure: ConnectorError | None = None
    try:
        connector_for(integration).test_connection()
    except ConnectorError as error:
        failure = error
    with transaction.atomic():
        locked = _locked(integration)
        if _tested_fingerprint(locked) != tested:
            raise NotAllowed(
                _("The credentials or configuration changed while the test ran: test the connection again."),
                code="changed_during_test",
            )
        locked.last_test_at = timezone.now()
        locked.last_test_ok = failure is None
        locked.save(update_fields=["last_test_at", "last_test_ok", "updated_at"])
    integration.refresh_from_db()
    logger.info(
        "integration.tested",
        extra={"integration_id": integration.pk, "ok": failure is None, "error_code": failure.code if failure else ""},
    )
    return failure


@transaction.atomic
def merchant_integration_activate(
    *, integration: MerchantIntegration, by: AbstractBaseUser | None
) -> MerchantIntegration:
    """configuring / error → active, only with valid configuration and a passing test of the
    current credentials and configuration. A paused integration comes back through `resume`."""
    integration = _locked(integration)
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
    _transition(integration, Status.ACTIVE, by=by, reason="Connection tested and activated")
    release_held_deliveries(integration=integration)
    return integration


@transaction.atomic
def merchant_integration_pause(
    *, integration: MerchantIntegration, by: AbstractBaseUser | None, reason: str = "", forced: bool = False
) -> MerchantIntegration:
    integration = _locked(integration)
    integration.paused_reason = PausedReason.FORCED if forced else PausedReason.MANUAL
    if forced:
        integration.last_test_ok = False  # lifting a forced pause needs a fresh test too
    _transition(integration, Status.PAUSED, by=by, reason=reason or "Paused")
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
    integration = _locked(integration)
    if integration.status != Status.PAUSED:
        raise InvalidTransition(
            _("Only a paused integration can be resumed; this one is %(status)s.")
            % {"status": integration.get_status_display().lower()}
        )
    _refuse_if_forced(integration, by)
    if not integration.last_test_ok:
        raise NotAllowed(
            _("Fix the cause (credentials or configuration) and test the connection before resuming."),
            code="test_required",
        )
    integration.paused_reason = ""
    _schedule_from_now(integration)
    _transition(integration, Status.ACTIVE, by=by, reason="Resumed")
    release_held_deliveries(integration=integration)
    return integration


@transaction.atomic
def merchant_integration_disconnect(
    *, integration: MerchantIntegration, by: AbstractBaseUser | None, reason: str = ""
) -> MerchantIntegration:
    """Stop syncing and forget the credentials; configuration, mappings and watermark stay."""
    integration = _locked(integration)
    old_key = integration.credentials_vault_key
    integration.credentials_vault_key = ""
    integration.credentials_set_at = None
    integration.last_test_ok = False
    if integration.paused_reason != PausedReason.FORCED:  # a forced pause outlives disconnect / re-enable
        integration.paused_reason = ""
    integration.next_poll_at = integration.next_batch_at = None
    _transition(integration, Status.DISCONNECTED, by=by, reason=reason or "Disconnected")
    if old_key:
        _delete_secret_on_commit(old_key)
    return integration


RECORD_SUCCESS_EVERY = timedelta(minutes=1)  # a busy, healthy integration is not rewritten per event


def merchant_integration_record_success(*, integration: MerchantIntegration) -> None:
    """A success ends the failure streak and clears the review flag.

    `integration` is as the caller read it just before calling the vendor: when it shows nothing to
    clear and a fresh `last_sync_at`, a busy, healthy integration is not written at all (this runs
    once per delivered event). Otherwise one UPDATE; if another worker cleared it meanwhile, writing
    the same values again is harmless.
    """
    now = timezone.now()
    if not integration.consecutive_error_count and not integration.needs_review and not integration.review_acknowledged_at \
            and integration.last_sync_at and (
        now - integration.last_sync_at < RECORD_SUCCESS_EVERY
    ):
        return
    MerchantIntegration.objects.filter(pk=integration.pk).update(
        last_sync_at=now, consecutive_error_count=0, needs_review=False, review_acknowledged_at=None, updated_at=now
    )


@transaction.atomic
def merchant_integration_record_failure(
    *, integration: MerchantIntegration, error: ConnectorError
) -> MerchantIntegration:
    """Count a failed sync: expired credentials → error; the 3rd failure in a row auto-pauses and
    emails the merchant's admins; 10 or more flag it for SystemAdmin review."""
    integration = _locked(integration)
    integration.consecutive_error_count += 1
    integration.last_error = f"{error.message} {error.advice}"
    integration.last_error_at = timezone.now()
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
        _transition(integration, Status.ERROR, by=None, reason=f"Credentials refused: {error.message}")
    elif integration.consecutive_error_count >= AUTO_PAUSE_AFTER_FAILURES:
        integration.paused_reason = PausedReason.AUTO
        integration.last_test_ok = False
        _transition(
            integration,
            Status.PAUSED,
            by=None,
            reason=f"Auto-paused after {integration.consecutive_error_count} consecutive failures: {error.message}",
        )
        transaction.on_commit(lambda: alerts.send_auto_pause_alert(integration_id=integration.pk))
    return integration


@transaction.atomic
def merchant_integration_acknowledge_review(*, integration: MerchantIntegration, by: AbstractBaseUser) -> MerchantIntegration:
    """A SystemAdmin takes the failure streak in hand: out of the review queue, and not flagged
    again (nor alerted) until a success ends this streak."""
    integration = _locked(integration)
    if not integration.needs_review:
        raise NotAllowed(_("This integration is not in the review queue."), code="not_in_review")
    integration.needs_review = False
    integration.review_acknowledged_at = timezone.now()
    integration.save(update_fields=["needs_review", "review_acknowledged_at", "updated_at"])
    logger.info("integration.review_acknowledged", extra={"integration_id": integration.pk, "by": by.pk})
    return integration


@transaction.atomic
def definition_force_pause_all(*, definition: IntegrationDefinition, by: AbstractBaseUser, reason: str) -> int:
    """SystemAdmin: pause every active (or erroring) installation of a definition, through the lifecycle."""
    count = 0
    for integration in MerchantIntegration.objects.select_for_update().filter(
        definition=definition, status__in=[Status.ACTIVE, Status.ERROR]
    ):
        integration.paused_reason = PausedReason.FORCED
        _transition(integration, Status.PAUSED, by=by, reason=reason or "Force-paused by QIIUB operations")
        count += 1
    return count


@transaction.atomic
def definition_deprecate(*, definition: IntegrationDefinition, by: AbstractBaseUser) -> IntegrationDefinition:
    """No new installations; existing ones keep running until their merchants move off."""
    definition.status = DefinitionStatus.DEPRECATED
    definition.save(update_fields=["status", "updated_at"])
    logger.info("integration.definition_deprecated", extra={"definition": definition.code, "by": by.pk})
    return definition
