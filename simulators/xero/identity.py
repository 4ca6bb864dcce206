"""Xero's identity server as the shared OAuth server (`simulators.oauth`) sees it: organisations, the grants that
reach them through connections, and JWT-shaped tokens (an id_token too, to an OpenID Connect sign-in)."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass, field

from simulators.oauth import Grant, OAuthState
from simulators.xero.wire import connection_time, fake_jwt

DEFAULT_CLIENT_ID = "qiiub-dev-client"
DEFAULT_CLIENT_SECRET = "qiiub-dev-secret"
ISSUER = "https://identity.xero.com"
ACCESS_TTL = 1800
ID_TOKEN_TTL = 300
REFRESH_TTL = 60 * 86400  # an unused refresh token lapses after 60 days
REFRESH_GRACE = 1800  # a replaced refresh token can still be retried this long


@dataclass
class XeroGrant(Grant):
    """One authorization: its scope and the organisations it reaches."""

    scope: str
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    session_id: str = field(default_factory=lambda: secrets.token_hex(16))
    auth_event_id: str = ""
    connections: list[dict] = field(default_factory=list)

    def scopes(self) -> set[str]:
        return set(self.scope.split())

    def tenant_ids(self) -> set[str]:
        return {connection["tenantId"] for connection in self.connections}


@dataclass
class Consent:
    scope: str
    tenant_id: str
    auth_event_id: str
    joining: XeroGrant | None  # set when the consent joins an existing grant


class XeroIdentity(OAuthState):
    """Organisations and grants; `XeroState` adds the Accounting side."""

    access_ttl = ACCESS_TTL
    refresh_ttl = REFRESH_TTL
    refresh_grace = REFRESH_GRACE
    code_bytes = 32
    refresh_token_bytes = 48

    def reset(self) -> None:
        super().reset()
        self.tenants: dict[str, str] = {}  # tenantId → tenantName, in order of first consent
        self.tenant_seq = 0
        self.next_tenant: dict[str, str] | None = None
        self.same_grant_next_consent = False

    def new_tenant(self) -> str:
        wanted, self.next_tenant = self.next_tenant, None
        if wanted:
            tenant = wanted["tenantId"]
            name = wanted.get("tenantName") or self.tenants.get(tenant)
        else:
            tenant, name = str(uuid.uuid4()), None
        if not name:
            self.tenant_seq += 1
            name = f"Demo Organisation {self.tenant_seq}"
        self.tenants[tenant] = name
        return tenant

    def latest_grant(self) -> XeroGrant | None:
        live = [grant for grant in self.grant_list if not grant.revoked]
        return live[-1] if live else None

    def connect(self, grant: XeroGrant, tenant: str, auth_event_id: str) -> None:
        stamp = connection_time()
        for connection in grant.connections:
            if connection["tenantId"] == tenant:  # consenting again to the same organisation: no duplicate
                connection.update(authEventId=auth_event_id, tenantName=self.tenants[tenant], updatedDateUtc=stamp)
                return
        grant.connections.append({
            "id": str(uuid.uuid4()),
            "authEventId": auth_event_id,
            "tenantId": tenant,
            "tenantType": "ORGANISATION",
            "tenantName": self.tenants[tenant],
            "createdDateUtc": stamp,
            "updatedDateUtc": stamp,
        })

    # --- the OAuth server's hooks ---

    def consented(self, query: dict[str, str]) -> tuple[Consent, dict[str, str]]:
        """Connects one organisation; the redirect names no tenant: the app asks `/connections`."""
        scope = " ".join(query.get("scope", "").split())
        joining = self.latest_grant() if self.same_grant_next_consent else None
        self.same_grant_next_consent = False
        return Consent(scope, self.new_tenant(), str(uuid.uuid4()), joining), {"scope": scope}

    def grant_for(self, consent: Consent) -> XeroGrant:
        grant = consent.joining if consent.joining and not consent.joining.revoked else None
        if grant is None:
            grant = self.add_grant(XeroGrant(consent.scope))
        grant.scope = consent.scope
        grant.auth_event_id = consent.auth_event_id
        self.connect(grant, consent.tenant_id, consent.auth_event_id)
        return grant

    def revoke(self, grant: XeroGrant) -> None:
        """Revoking a grant disconnects every organisation it reached, as Xero does."""
        super().revoke(grant)
        grant.connections.clear()

    def new_access_token(self, grant: XeroGrant, issued: int) -> str:
        return fake_jwt({
            "nbf": issued,
            "exp": issued + ACCESS_TTL,
            "iss": ISSUER,
            "aud": f"{ISSUER}/resources",
            "client_id": self.client_id,
            "sub": grant.user_id.replace("-", ""),
            "auth_time": issued,
            "xero_userid": grant.user_id,
            "global_session_id": grant.session_id,
            "sid": grant.session_id,
            "jti": secrets.token_hex(16),
            "authentication_event_id": grant.auth_event_id,
            "scope": grant.scope.split(),
        })

    def token_answer(self, grant: XeroGrant, access_token: str) -> dict:
        tokens = {
            "access_token": access_token,
            "expires_in": ACCESS_TTL,
            "token_type": "Bearer",
            "refresh_token": grant.refresh,
            "scope": grant.scope,
        }
        if "openid" not in grant.scopes():  # Xero returns an id_token only to an OpenID Connect sign-in
            return tokens
        issued = int(time.time())
        id_token = fake_jwt({
            "nbf": issued,
            "exp": issued + ID_TOKEN_TTL,
            "iss": ISSUER,
            "aud": self.client_id,
            "iat": issued,
            "sub": grant.user_id.replace("-", ""),
            "auth_time": issued,
            "xero_userid": grant.user_id,
            "global_session_id": grant.session_id,
            "sid": grant.session_id,
            "preferred_username": "demo@qiiub.test",
            "email": "demo@qiiub.test",
            "given_name": "Demo",
            "family_name": "User",
        })
        return {"id_token": id_token, **tokens}
