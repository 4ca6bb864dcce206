"""The Xero fake's routes: identity (the shared OAuth server), the Connections API, and the gate every Accounting call
passes (bearer token, `xero-tenant-id`, scope, rate limits, scheduled failures, Accept) before `accounting` answers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from simulators.base import Rejected, Reply, json_reply, text_reply
from simulators.oauth import Access, OAuthHandler
from simulators.xero.accounting import AccountingResources
from simulators.xero.state import XeroState
from simulators.xero.wire import failure_reply, problem, too_many_requests

ACCOUNTING_PREFIX = "/api.xro/2.0/"


class XeroHandler(OAuthHandler, AccountingResources):
    server_version = "XeroSimulator/1.0"
    request_id_header = "Xero-Correlation-Id"
    authorize_path = "/identity/connect/authorize"
    token_path = "/connect/token"
    revoke_path = "/connect/revocation"
    required_scopes = ("offline_access", "accounting.transactions")
    token_headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    revokes_access_tokens = False  # Xero revokes by refresh token only
    state: XeroState

    def do_PUT(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def redirect_uri_problem(self, uri: str) -> str | None:
        redirect = urlsplit(uri)
        if redirect.scheme in ("http", "https") and redirect.netloc:
            return None
        return "redirect_uri must be an absolute URL"

    def answer_api(self, path: str, raw: bytes) -> Reply:
        lower = path.lower()
        if self.command == "GET" and lower == "/connections":  # the spec says /Connections; clients use both
            return self._connections()
        if self.command == "DELETE" and (match := re.fullmatch(r"/connections/([^/]+)", lower)):
            return self._disconnect(match.group(1))
        if lower.startswith(ACCOUNTING_PREFIX):
            return self._accounting(raw, path[len(ACCOUNTING_PREFIX):])
        return problem(404, "Not Found", f"No such resource: {path}")

    # --- Connections ---

    def _bearer(self) -> Access:
        """The caller's live access token, or a 401 in Xero's shape (never echoing the token)."""
        header = self.headers.get("Authorization", "")
        access = self.state.access_tokens.get(header[7:] if header[:7].lower() == "bearer " else "")
        if access is None or access.grant.revoked:
            raise Rejected(problem(401, "Unauthorized", "AuthenticationUnsuccessful"))
        if access.expires_at <= time.time():
            expired = datetime.fromtimestamp(access.expires_at, UTC).strftime("%m/%d/%Y %H:%M:%S")
            raise Rejected(problem(401, "Unauthorized", f"TokenExpired: token expired at {expired}"))
        return access

    def _connections(self) -> Reply:
        with self.state.lock:
            access = self._bearer()
            connections = [dict(c) for c in access.grant.connections]
        if auth_event := self.params.get("authEventId"):
            connections = [c for c in connections if c["authEventId"].lower() == auth_event.lower()]
        return json_reply(200, connections)

    def _disconnect(self, connection_id: str) -> Reply:
        with self.state.lock:
            connections = self._bearer().grant.connections
            for index, connection in enumerate(connections):
                if connection["id"].lower() == connection_id:
                    del connections[index]
                    return Reply(204, b"", "text/plain")
        return problem(404, "Not Found", "Connection not found")

    # --- the Accounting gate ---

    def _accounting(self, raw: bytes, resource: str) -> Reply:
        state = self.state
        tenant = None
        try:
            with state.lock:
                state.accounting_requests += 1
                access = self._bearer()
                tenant = self._tenant(access)
                handler = self._route(access, resource)
                if limited := state.admit(tenant):
                    problem_name, retry_after = limited
                    raise Rejected(too_many_requests(problem_name, {"Retry-After": str(retry_after)}))
        except Rejected as rejected:
            if tenant is None:
                return rejected.reply
            with state.lock:
                return self._with_limits(rejected.reply, tenant)
        with state.lock:
            try:
                reply = self._admitted(raw, tenant, handler)
            finally:
                state.release(tenant)
            return self._with_limits(reply, tenant)

    def _with_limits(self, reply: Reply, tenant: str) -> Reply:
        return reply._replace(headers={**self.state.limit_headers(tenant), **(reply.headers or {})})

    def _tenant(self, access: Access) -> str:
        tenant = self.headers.get("xero-tenant-id", "").strip()
        if not tenant:  # what Xero answers without the header
            raise Rejected(problem(403, "Forbidden", "AuthenticationUnsuccessful"))
        if tenant.lower() not in {t.lower() for t in access.grant.tenant_ids()}:
            raise Rejected(problem(403, "Forbidden", "AuthorizationUnsuccessful"))
        return next(t for t in access.grant.tenant_ids() if t.lower() == tenant.lower())

    def _admitted(self, raw: bytes, tenant: str, handler: Callable[[str, bytes], Reply]) -> Reply:
        if fail := self.state.faults.due():
            return failure_reply(fail)
        if "application/json" not in self.headers.get("Accept", "").lower():
            return text_reply(406, "This simulator answers JSON only: send Accept: application/json")
        try:
            return handler(tenant, raw)
        except Rejected as rejected:
            return rejected.reply
