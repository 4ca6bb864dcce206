"""OAuth 2 authorization-code grants for the connectors that use them (QuickBooks Online, Xero).

The token calls live here, once; where tokens are kept and how a refresh is serialised is
`integrations/services/oauth.py`. A connector subclasses `OAuthConnector` and gets an access token
that is refreshed before it expires, and once more if the vendor refuses it mid-batch.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlencode

import requests
from django.conf import settings

from integrations.connectors.base import Connector
from qiiub.http import AuthExpired, ConnectorError, VendorUnavailable, error_for_status, shared_session

# Refresh this long before the vendor's expiry, so a token never lapses in the middle of a batch.
REFRESH_MARGIN_S = 300


class GrantRevoked(AuthExpired):
    """The vendor no longer honours the refresh token: only the merchant can reconnect."""

    code = "grant_revoked"


@dataclass(frozen=True)
class Provider:
    name: str
    settings_name: str  # the settings dict with the endpoints and the app's client id and secret
    scopes: tuple[str, ...]
    # The vendor's query parameter that names the connected company on the redirect (QBO's realmId).
    company_param: str = ""

    @property
    def config(self) -> dict:
        return getattr(settings, self.settings_name)

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        query = {"client_id": self.config["client_id"], "response_type": "code", "scope": " ".join(self.scopes),
                 "redirect_uri": redirect_uri, "state": state}
        return f"{self.config['authorize_url']}?{urlencode(query)}"

    def exchange_code(self, *, code: str, redirect_uri: str) -> dict:
        return self._token_call({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri})

    def refresh(self, refresh_token: str) -> dict:
        return self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def _token_call(self, form: dict) -> dict:
        """POST to the token endpoint (client credentials in Basic auth, a form body); returns the
        tokens with `expires_at` (epoch seconds) in place of the relative `expires_in`."""
        basic = base64.b64encode(f"{self.config['client_id']}:{self.config['client_secret']}".encode()).decode()
        try:
            response = shared_session().post(
                self.config["token_url"], data=form, timeout=settings.CONNECTOR_TIMEOUT_S,
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            )
        except requests.RequestException as error:
            raise VendorUnavailable("signin_unreachable", vendor=self.name) from error
        if response.status_code == 400 and _json(response).get("error") == "invalid_grant":
            raise GrantRevoked("grant_revoked", vendor=self.name)
        if response.status_code == 401:
            # Our app's client id or secret is wrong: a deployment problem, not the merchant's.
            raise ConnectorError("app_credentials_refused", vendor=self.name)
        if error := error_for_status(response, who=f"{self.name}'s sign-in service"):
            raise error
        tokens = _json(response)
        if response.status_code != 200 or not tokens.get("access_token") or not tokens.get("refresh_token"):
            raise ConnectorError("signin_no_tokens", vendor=self.name, status=response.status_code)
        return {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                "expires_at": int(time.time()) + int(tokens.get("expires_in") or 3600)}


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# Who keeps the grants: refreshes one under its integration's row lock and stores it in the vault.
# The integrations services, plugged in from IntegrationsConfig.ready(): connectors never import them.
_fresh_tokens: Callable[..., dict] | None = None


def keep_grants_with(fresh_tokens: Callable[..., dict]) -> None:
    global _fresh_tokens
    _fresh_tokens = fresh_tokens


class OAuthConnector(Connector):
    """A connector whose credentials are an OAuth grant kept by `integrations.services.oauth`."""

    requires_oauth = True

    provider: ClassVar[Provider]

    @classmethod
    def connected_company(cls, *, access_token: str) -> str:
        """The company a new grant is for, when the redirect does not name it (`company_param`)."""
        raise NotImplementedError

    def access_token(self) -> str:
        if self.credentials.get("expires_at", 0) - time.time() < REFRESH_MARGIN_S:
            self._refresh()
        return self.credentials["access_token"]

    def _refresh(self) -> None:
        self.credentials = _fresh_tokens(integration=self.integration, stale=self.credentials["access_token"])

    def _authorised(self, method: str, url: str, **kwargs) -> requests.Response:
        """A call with the access token; if the vendor refuses it (expired or revoked early), the
        grant is refreshed once and the call made again."""
        headers = kwargs.pop("headers", {})
        try:
            return self._request(shared_session(), method, url,
                                 headers={**headers, "Authorization": f"Bearer {self.access_token()}"}, **kwargs)
        except GrantRevoked:
            raise
        except AuthExpired:
            self._refresh()
        return self._request(shared_session(), method, url,
                             headers={**headers, "Authorization": f"Bearer {self.credentials['access_token']}"},
                             **kwargs)
