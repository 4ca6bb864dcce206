"""Connecting an integration by OAuth 2 and keeping its grant fresh.

Connect: the portal sends the merchant admin to the vendor with a `state` that names the
integration and is bound to their browser session; the callback accepts only that state, once,
within ten minutes, trades the code for tokens, stores them in the vault and tests the connection.

Refresh: one worker at a time per integration (a row lock), since each refresh rotates the refresh
token and the old one stops working. The new grant and the row's pointer to it commit together.
"""

from __future__ import annotations

import logging
import secrets
import time

from django.core import signing
from django.db import transaction
from django.utils.translation import gettext as _

from integrations.connectors.oauth import REFRESH_MARGIN_S, OAuthConnector, Provider
from integrations.connectors.registry import connector_class_for_definition
from integrations.models import MerchantIntegration, Status
from integrations.services import configuring, transitions
from qiiub.errors import NotAllowed
from qiiub.http import ConnectorError
from qiiub.vault import get_vault, new_vault_key

logger = logging.getLogger(__name__)

STATE_SALT = "integrations.oauth.state"
STATE_MAX_AGE_S = 600
_SESSION_KEY = "oauth_nonces"


class StateRefused(NotAllowed):
    code = "oauth_state_refused"
    http_status = 400


def _connector_class(integration: MerchantIntegration) -> type[OAuthConnector]:
    connector = connector_class_for_definition(integration.definition_id)
    if not issubclass(connector, OAuthConnector):
        raise NotAllowed(_("%(name)s does not connect with OAuth.") % {"name": integration.definition.name},
                         code="not_oauth")
    return connector


def provider_for(integration: MerchantIntegration) -> Provider:
    return _connector_class(integration).provider


def oauth_start(*, integration: MerchantIntegration, session, redirect_uri: str) -> str:
    """The vendor's consent URL for this integration; its state is remembered in the session."""
    if integration.status == Status.DISCONNECTED:
        raise NotAllowed(_("This integration is disconnected: enable it again first."), code="disconnected")
    provider = provider_for(integration)
    nonce = secrets.token_urlsafe(16)
    session[_SESSION_KEY] = {**session.get(_SESSION_KEY, {}), str(integration.pk): nonce}
    state = signing.dumps({"integration": integration.pk, "nonce": nonce}, salt=STATE_SALT)
    return provider.authorize_url(state=state, redirect_uri=redirect_uri)


def integration_for_state(*, state: str, session) -> int:
    """The integration a callback's state names, if this session started that connect in the last
    ten minutes; the state is used up either way."""
    try:
        claims = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE_S)
    except signing.SignatureExpired:
        raise StateRefused(_("The connect request expired: start again from the integration's page.")) from None
    except signing.BadSignature:
        raise StateRefused(_("The connect request was not started here (wrong state): nothing was saved.")) from None
    nonces = dict(session.get(_SESSION_KEY, {}))
    expected = nonces.pop(str(claims["integration"]), None)
    session[_SESSION_KEY] = nonces
    if expected is None or not secrets.compare_digest(expected, claims["nonce"]):
        raise StateRefused(_("The connect request was not started in this browser session: nothing was saved."))
    return claims["integration"]


def oauth_complete(
    *, integration: MerchantIntegration, code: str, company_id: str, redirect_uri: str, by
) -> tuple[MerchantIntegration, ConnectorError | None]:
    """Trade the code for a grant, store it, test the connection, and put an integration that was
    in error back to work (the merchant reconnected it). Returns it with the test's error, if any."""
    connector = _connector_class(integration)
    provider = connector.provider
    if provider.company_param and not company_id:
        raise NotAllowed(_("%(vendor)s did not say which company was connected (%(param)s).")
                         % {"vendor": provider.name, "param": provider.company_param}, code="oauth_no_company")
    tokens = provider.exchange_code(code=code, redirect_uri=redirect_uri)
    if not provider.company_param:  # the vendor names it through an API call instead (Xero's Connections)
        company_id = connector.connected_company(access_token=tokens["access_token"])
    grant = {**tokens, "company_id": company_id}
    integration = configuring.merchant_integration_replace_secret(integration=integration, secret=grant)
    logger.info("integration.oauth_connected", extra={"integration_id": integration.pk})
    failure = configuring.merchant_integration_test_connection(integration=integration, by=by)
    if failure is None and integration.status == Status.ERROR:
        integration = transitions.merchant_integration_activate(integration=integration, by=by)
    return integration, failure


def fresh_tokens(*, integration: MerchantIntegration, stale: str) -> dict:
    """The grant with a usable access token. `stale` is the access token the caller holds: if
    another worker already replaced it, that newer grant is returned without a vendor call."""
    vault = get_vault()
    with transaction.atomic():
        locked = MerchantIntegration.objects.select_for_update().get(pk=integration.pk)
        grant = vault.get(locked.credentials_vault_key)  # not the cached copy: this is the newest
        if grant["access_token"] != stale and grant.get("expires_at", 0) - time.time() > REFRESH_MARGIN_S:
            return grant
        # Refresh while holding the lock: a second worker waits here and then takes the new grant.
        refreshed = {**grant, **provider_for(locked).refresh(grant["refresh_token"])}
        new_key = new_vault_key(f"mi-{locked.pk}")
        vault.put(new_key, refreshed)
        old_key = locked.credentials_vault_key
        locked.credentials_vault_key = new_key
        locked.save(update_fields=["credentials_vault_key", "updated_at"])
        transaction.on_commit(lambda: vault.delete(old_key), robust=True)
    integration.credentials_vault_key = new_key
    logger.info("integration.oauth_refreshed", extra={"integration_id": integration.pk})
    return refreshed
