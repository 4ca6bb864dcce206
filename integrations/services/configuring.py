"""An integration's configuration and credentials: saving them (credentials in the vault, never
back in a page), testing the connection, and disconnecting, which forgets the credentials."""

from __future__ import annotations

import hashlib
import json
import logging

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.connectors.registry import connector_for, connects_with_oauth
from integrations.models import MerchantIntegration, PausedReason, ProblemResolution, Status
from integrations.services import problems
from integrations.services.transitions import integration_locked, integrations_changed_announce, transition_write
from qiiub.errors import InvalidTransition, NotAllowed, ValidationFailed
from qiiub.http import ConnectorError
from qiiub.messages import Message
from qiiub.schemas import validate_against
from qiiub.vault import VaultUnavailable, get_vault, new_vault_key

logger = logging.getLogger(__name__)


@transaction.atomic
def merchant_integration_configure(
    *, integration: MerchantIntegration, configuration: dict, by: AbstractBaseUser | None
) -> MerchantIntegration:
    integration = integration_locked(integration)
    if integration.status == Status.DISCONNECTED:
        raise InvalidTransition(_("This integration is disconnected: enable it again to configure it."))
    validate_against(integration.definition.configuration_schema, configuration,
                     refusal=_("The configuration is not valid: fix the fields marked."))
    if configuration != integration.configuration:
        integration.last_test_ok = False  # a passing test vouches only for what it tested
    integration.configuration = configuration
    integration.save(update_fields=["configuration", "last_test_ok", "updated_at"])
    integrations_changed_announce([integration])
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
            integration = integration_locked(integration)
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
        locked = integration_locked(integration)
        if _tested_fingerprint(locked) != tested:
            raise NotAllowed(
                _("The credentials or configuration changed while the test ran: test the connection again."),
                code="changed_during_test",
            )
        locked.last_test_at = timezone.now()
        locked.last_test_ok = failure is None
        locked.last_test_error = failure.stored() if failure else {}
        locked.save(update_fields=["last_test_at", "last_test_ok", "last_test_error", "updated_at"])
        if failure is None:
            problems.test_clears(integration=locked)
    integration.refresh_from_db()
    logger.info(
        "integration.tested",
        extra={"integration_id": integration.pk, "ok": failure is None, "error_code": failure.code if failure else ""},
    )
    return failure


@transaction.atomic
def merchant_integration_disconnect(
    *, integration: MerchantIntegration, by: AbstractBaseUser | None, reason: str = ""
) -> MerchantIntegration:
    """Stop syncing and forget the credentials; configuration, mappings and watermark stay."""
    integration = integration_locked(integration)
    old_key = integration.credentials_vault_key
    integration.credentials_vault_key = ""
    integration.credentials_set_at = None
    integration.last_test_ok = False
    if integration.paused_reason != PausedReason.FORCED:  # a forced pause outlives disconnect / re-enable
        integration.paused_reason = ""
    integration.next_poll_at = integration.next_batch_at = None
    transition_write(integration, Status.DISCONNECTED, by=by, reason=reason or Message("disconnected"))
    problems.problems_resolve(integrations=[integration], kinds=None, resolution=ProblemResolution.DISCONNECTED)
    if old_key:
        _delete_secret_on_commit(old_key)
    return integration
