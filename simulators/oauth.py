"""The OAuth 2 authorization-code server the vendor fakes share (Intuit's for QuickBooks, Xero's identity server).

Consent is approved at once (or refused once, when a test says so) and redirects back with a single-use code. The token
endpoint takes the app's credentials as HTTP Basic and a form body, exchanges a code or a refresh token, and rotates the
refresh token on every use; a revocation ends the whole grant. What differs between vendors is a class attribute or a
hook: of `OAuthState` (what a consent settles, what a grant holds, what a token answer says, how long tokens live) or of
`OAuthHandler` (paths, scopes, how a revocation is sent and answered).
Tests steer it through `POST /_control`: `expire_access_tokens`, `revoke_all`, `expire_refresh_grace`,
`deny_next_consent`.
Standard library only.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from simulators.base import FakeHandler, Rejected, Reply, json_reply, text_reply

CODE_TTL = 600  # seconds an authorization code can be exchanged
CONTROL_KEYS = frozenset({"expire_access_tokens", "revoke_all", "expire_refresh_grace", "deny_next_consent"})


@dataclass(kw_only=True)
class Grant:
    """One authorization; a vendor's subclass adds what it reaches (a company, organisations)."""

    refresh: str = ""  # the current refresh token
    revoked: bool = False


@dataclass
class RefreshToken:
    grant: Grant
    issued_at: float
    superseded_at: float | None = None  # when a newer refresh token replaced it; the grace runs from here


@dataclass
class Access:
    grant: Grant
    expires_at: float


@dataclass
class Code:
    redirect_uri: str
    consent: object  # what the vendor's consent settled, made a grant when the code is exchanged
    expires_at: float


def with_query(uri: str, params: dict[str, str]) -> str:
    """A redirect back to the app: `params` added to whatever query the redirect URI already has."""
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def basic_auth_ok(authorization: str, client_id: str, client_secret: str) -> bool:
    """Whether an `Authorization: Basic …` header carries these client credentials."""
    scheme, _, value = authorization.partition(" ")
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:
        return False
    return scheme.lower() == "basic" and decoded == f"{client_id}:{client_secret}"


class OAuthState:
    """The OAuth memory of a fake; the vendor's state subclasses it. Hold `lock` while reading or changing it."""

    access_ttl: ClassVar[int]
    refresh_ttl: ClassVar[int]  # an unused refresh token lapses after this many seconds
    refresh_grace: ClassVar[int] = 0  # seconds a replaced refresh token still works (0: it stops at once)
    code_bytes: ClassVar[int] = 24
    refresh_token_bytes: ClassVar[int] = 32

    def __init__(self, client_id: str, client_secret: str):
        self.lock = threading.Lock()
        self.client_id = client_id
        self.client_secret = client_secret
        self.reset()

    def reset(self) -> None:
        self.deny_next_consent = False
        self.codes: dict[str, Code] = {}
        self.grant_list: list[Grant] = []
        self.refresh_tokens: dict[str, RefreshToken] = {}  # every refresh token issued, current or replaced
        self.access_tokens: dict[str, Access] = {}
        self.grants = {"authorization_code": 0, "refresh_token": 0}  # token answers, by grant type
        self.revocations = 0

    # --- the vendor's hooks ---

    def consented(self, query: dict[str, str]) -> tuple[object, dict[str, str]]:
        """What an approved consent settles (kept with its code) and what the redirect adds to `code` and `state`."""
        raise NotImplementedError

    def grant_for(self, consent) -> Grant:
        """The grant an exchanged code gives: a new one (`add_grant`), or an existing one the consent joins."""
        raise NotImplementedError

    def token_answer(self, grant: Grant, access_token: str) -> dict:
        """The token endpoint's answer, `grant.refresh` being the new refresh token."""
        raise NotImplementedError

    def new_access_token(self, grant: Grant, issued: int) -> str:
        """Opaque unless the vendor's tokens carry claims."""
        return secrets.token_urlsafe(32)

    def revoke(self, grant: Grant) -> None:
        grant.revoked = True

    # --- the mechanics ---

    def add_grant(self, grant: Grant) -> Grant:
        self.grant_list.append(grant)
        return grant

    def new_code(self, redirect_uri: str, consent) -> str:
        code = secrets.token_urlsafe(self.code_bytes)
        self.codes[code] = Code(redirect_uri, consent, time.time() + CODE_TTL)
        return code

    def exchange(self, code: str, redirect_uri: str | None) -> Grant | None:
        """The grant a code gives; None when it is unknown, lapsed or sent with another redirect_uri."""
        found = self.codes.pop(code, None)  # single use, even when the exchange fails
        if found is None or found.expires_at <= time.time() or redirect_uri != found.redirect_uri:
            return None
        return self.grant_for(found.consent)

    def refreshed(self, token: str) -> Grant | None:
        """The grant a refresh token still reaches: not revoked, not lapsed, current or within its grace."""
        record = self.refresh_tokens.get(token)
        if record is None or record.grant.revoked:
            return None
        now = time.time()
        if record.issued_at + self.refresh_ttl <= now:
            return None
        if record.superseded_at is not None and record.superseded_at + self.refresh_grace <= now:
            return None
        return record.grant

    def issue(self, grant: Grant) -> dict:
        """Rotates the grant's refresh token (the replaced one enters its grace) and adds an access token; earlier
        access tokens stay valid until they expire."""
        now = time.time()
        previous = self.refresh_tokens.get(grant.refresh)
        if previous and previous.superseded_at is None:
            previous.superseded_at = now
        grant.refresh = secrets.token_urlsafe(self.refresh_token_bytes)
        self.refresh_tokens[grant.refresh] = RefreshToken(grant, now)
        access = self.new_access_token(grant, int(now))
        self.access_tokens[access] = Access(grant, now + self.access_ttl)
        return self.token_answer(grant, access)

    def control_grants(self, body: dict) -> None:
        """Applies the `CONTROL_KEYS` of a `/_control` body; none of them can be malformed."""
        now = time.time()
        if body.get("expire_access_tokens"):
            for access in self.access_tokens.values():
                access.expires_at = min(access.expires_at, now)
        if body.get("revoke_all"):
            for grant in self.grant_list:
                self.revoke(grant)
        if body.get("expire_refresh_grace"):
            for record in self.refresh_tokens.values():
                if record.superseded_at is not None:
                    record.superseded_at = now - self.refresh_grace
        if "deny_next_consent" in body:
            self.deny_next_consent = bool(body["deny_next_consent"])


class OAuthHandler(FakeHandler):
    """Answers the authorize, token and revocation endpoints; every other request goes to `answer_api`."""

    authorize_path: ClassVar[str]  # GET
    token_path: ClassVar[str]  # POST
    revoke_path: ClassVar[str]  # POST
    required_scopes: ClassVar[tuple[str, ...]]
    token_headers: ClassVar[dict[str, str]] = {}  # sent with every token answer
    revocation_form: ClassVar[bool] = True  # the token to revoke comes form-encoded, else as JSON {"token": …}
    revokes_access_tokens: ClassVar[bool] = True  # False: an access token is refused as unsupported_token_type
    revocation_reply: ClassVar[Reply] = Reply(200, b"", "text/plain")  # the answer to a revocation, known token or not
    state: OAuthState

    def answer(self, path: str, raw: bytes) -> Reply:
        route = (self.command, path)
        if route == ("GET", self.authorize_path):
            return self._consent()
        if route == ("POST", self.token_path):
            return self._token(raw)
        if route == ("POST", self.revoke_path):
            return self._revoke(raw)
        return self.answer_api(path, raw)

    def answer_api(self, path: str, raw: bytes) -> Reply:
        """The vendor's API routes; a Rejected is answered too."""
        raise NotImplementedError

    def redirect_uri_problem(self, uri: str) -> str | None:
        """Why the consent refuses this redirect_uri, if it does."""
        return None if uri else "redirect_uri is required"

    def _json(self, status: int, body: dict, headers: dict[str, str] | None = None) -> Reply:
        return json_reply(status, body, headers, self.json_type)

    def _consent(self) -> Reply:
        """The consent screen, approved at once: redirects back with a code, or with access_denied when told to."""
        query = self.params
        scopes, required = query.get("scope", "").split(), self.required_scopes
        redirect_problem = self.redirect_uri_problem(query.get("redirect_uri", ""))
        checks = (
            (query.get("client_id") == self.state.client_id, "client_id is not a registered app"),
            (query.get("response_type") == "code", "response_type must be 'code'"),
            (all(s in scopes for s in required), f"scope must include {' and '.join(required)}"),
            (redirect_problem is None, redirect_problem),
            (bool(query.get("state")), "state is required"),
        )
        for ok, why in checks:
            if not ok:
                return text_reply(400, why)
        state = self.state
        with state.lock:
            if state.deny_next_consent:
                state.deny_next_consent = False
                params = {"error": "access_denied", "state": query["state"]}
            else:
                consent, settled = state.consented(query)
                code = state.new_code(query["redirect_uri"], consent)
                params = {"code": code, "state": query["state"], **settled}
        return Reply(302, b"", "text/plain", {"Location": with_query(query["redirect_uri"], params)})

    def _client_ok(self) -> bool:
        return basic_auth_ok(self.headers.get("Authorization", ""), self.state.client_id, self.state.client_secret)

    def _form(self, raw: bytes) -> dict[str, str]:
        if self._media_type() != "application/x-www-form-urlencoded":
            raise Rejected(self._json(400, {"error": "invalid_request"}))
        return {key: values[-1] for key, values in parse_qs(raw.decode(errors="replace")).items()}

    def _token(self, raw: bytes) -> Reply:
        if not self._client_ok():
            return self._json(401, {"error": "invalid_client"})
        form = self._form(raw)
        grant_type = form.get("grant_type", "")
        state = self.state
        with state.lock:
            if grant_type == "authorization_code":
                grant = state.exchange(form.get("code", ""), form.get("redirect_uri"))
            elif grant_type == "refresh_token":
                grant = state.refreshed(form.get("refresh_token", ""))
            else:
                return self._json(400, {"error": "unsupported_grant_type"})
            if grant is None:
                return self._json(400, {"error": "invalid_grant"})
            state.grants[grant_type] += 1
            return self._json(200, state.issue(grant), self.token_headers)

    def _revocation_token(self, raw: bytes) -> str:
        if self.revocation_form:
            return self._form(raw).get("token", "")
        try:
            token = json.loads(raw).get("token")
        except (ValueError, AttributeError):
            return ""
        return token if isinstance(token, str) else ""

    def _revoke(self, raw: bytes) -> Reply:
        """A refresh token (or, where the vendor allows, an access token) ends its whole grant."""
        if not self._client_ok():
            return self._json(401, {"error": "invalid_client"})
        token = self._revocation_token(raw)
        if not token:
            return self._json(400, {"error": "invalid_request"})
        state = self.state
        with state.lock:
            access = state.access_tokens.get(token)
            if access and not self.revokes_access_tokens:
                return self._json(400, {"error": "unsupported_token_type"})
            record = state.refresh_tokens.get(token)
            grant = record.grant if record else access and access.grant
            if grant:
                state.revoke(grant)
                state.revocations += 1
        return self.revocation_reply  # an unknown token is not an error (RFC 7009)

