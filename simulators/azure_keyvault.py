"""A local fake of the Azure Key Vault secrets data plane, good enough for `azure-keyvault-secrets`.

It speaks the REST shapes the SDK sends and parses (SecretBundle, DeletedSecretBundle, the Key Vault error
body `{"error": {"code", "message"}}`), requires the `api-version` query parameter, and runs Key Vault's
bearer-challenge handshake: a request without `Authorization: Bearer …` is answered 401 with
`WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"`.

The SDK only sends bearer tokens over TLS, so the fake serves HTTPS on 127.0.0.1 (free port) with a
self-signed certificate made at start-up. A client reaches it with these options::

    SecretClient(vault_url=vault.url, credential=..., **vault.client_options())

`connection_verify` trusts the certificate, `verify_challenge_resource=False` lets the SDK accept a challenge
for `vault.azure.net` from a host that is not `*.vault.azure.net`, and `retry_total=0` keeps 5xx tests quick.

Usage from a fixture::

    vault = FakeKeyVault().start()
    yield vault
    vault.stop()
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from simulators.tls import self_signed_certificate as _self_signed_certificate

DEFAULT_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
VAULT_RESOURCE = "https://vault.azure.net"
SECRET_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
FAILURE_CODES = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    has_auth: bool
    token: str | None
    content_type: str | None
    body: dict | None
    status: int = 0

    @property
    def api_version(self) -> str | None:
        return (self.query.get("api-version") or [None])[0]


@dataclass
class _Version:
    version: str
    value: str
    content_type: str | None
    tags: dict | None
    enabled: bool
    created: int
    updated: int


@dataclass
class _Deleted:
    versions: list[_Version]
    deleted_date: int
    scheduled_purge_date: int


@dataclass
class FakeKeyVault:
    tenant_id: str = DEFAULT_TENANT_ID
    soft_delete: bool = False
    accepted_token: str | None = None  # None: any bearer token is accepted
    requests: list[RecordedRequest] = field(default_factory=list)
    secrets: dict[str, list[_Version]] = field(default_factory=dict)
    deleted: dict[str, _Deleted] = field(default_factory=dict)
    failure_status: int | None = None

    def __post_init__(self):
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._dir: Path | None = None
        self.cert_path: str = ""

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> FakeKeyVault:
        self._dir = Path(tempfile.mkdtemp(prefix="fake-keyvault-"))
        cert_path, key_path = _self_signed_certificate(self._dir)
        self.cert_path = str(cert_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-keyvault", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> FakeKeyVault:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeKeyVault is not started"
        return f"https://127.0.0.1:{self._server.server_port}"

    def client_options(self) -> dict:
        """The SecretClient keyword options that let the Azure SDK talk to this fake."""
        return {"connection_verify": self.cert_path, "verify_challenge_resource": False, "retry_total": 0}

    # -- switches and inspection ------------------------------------------------------------------------------

    def fail_with(self, status: int | None) -> None:
        """Answer every request with this 5xx status (None: behave normally again)."""
        self.failure_status = status

    def stored_value(self, name: str) -> str | None:
        with self._lock:
            versions = self.secrets.get(name)
            return versions[-1].value if versions else None

    def stored_content_type(self, name: str) -> str | None:
        with self._lock:
            versions = self.secrets.get(name)
            return versions[-1].content_type if versions else None

    def authorized_requests(self) -> list[RecordedRequest]:
        return [request for request in self.requests if request.has_auth]

    # -- the REST API -----------------------------------------------------------------------------------------

    def _handle(self, method: str, path: str, body: dict | None) -> tuple[int, dict | None]:
        parts = [unquote(part) for part in path.strip("/").split("/")] if path.strip("/") else []
        if parts[:1] == ["secrets"] and len(parts) in (2, 3):
            name, version = parts[1], (parts[2] if len(parts) == 3 else "")
            if not SECRET_NAME.match(name):
                return _error(400, "BadParameter", f"The request URI contains an invalid name: {name}")
            if method == "PUT" and not version:
                return self._set_secret(name, body)
            if method == "GET":
                return self._get_secret(name, version)
            if method == "DELETE" and not version:
                return self._delete_secret(name)
        if parts[:1] == ["deletedsecrets"] and len(parts) == 2 and self.soft_delete:
            if method == "GET":
                return self._get_deleted_secret(parts[1])
            if method == "DELETE":
                return self._purge_deleted_secret(parts[1])
        return _error(405 if parts[:1] == ["secrets"] else 404, "BadParameter", f"{method} {path} is not supported.")

    def _set_secret(self, name: str, body: dict | None) -> tuple[int, dict]:
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            return _error(400, "BadParameter", "Property 'value' is required and must be a string.")
        with self._lock:
            if name in self.deleted:
                return _error(
                    409,
                    "Conflict",
                    f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; "
                    "in this state, the secret can only be recovered or purged.",
                )
            now = int(time.time())
            attributes = body.get("attributes") or {}
            version = _Version(
                version=uuid.uuid4().hex,
                value=body["value"],
                content_type=body.get("contentType"),
                tags=body.get("tags"),
                enabled=attributes.get("enabled", True),
                created=now,
                updated=now,
            )
            self.secrets.setdefault(name, []).append(version)
            return 200, self._bundle(name, version)

    def _get_secret(self, name: str, version: str) -> tuple[int, dict]:
        with self._lock:
            versions = self.secrets.get(name, [])
            found = (
                versions[-1]
                if versions and not version
                else next((each for each in versions if each.version == version), None)
            )
            if found is None:
                return _not_found(name)
            if not found.enabled:
                return _error(403, "Forbidden", f"Operation get is not allowed on a disabled secret {name}.")
            return 200, self._bundle(name, found)

    def _delete_secret(self, name: str) -> tuple[int, dict]:
        with self._lock:
            versions = self.secrets.pop(name, None)
            if not versions:
                return _not_found(name)
            now = int(time.time())
            bundle = self._bundle(name, versions[-1])
            del bundle["value"]  # Key Vault never returns the value of a deleted secret
            if self.soft_delete:
                record = _Deleted(versions=versions, deleted_date=now, scheduled_purge_date=now + 90 * 86400)
                self.deleted[name] = record
                bundle.update(self._deleted_fields(name, record))
            return 200, bundle

    def _get_deleted_secret(self, name: str) -> tuple[int, dict]:
        with self._lock:
            record = self.deleted.get(name)
            if record is None:
                return _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
            bundle = self._bundle(name, record.versions[-1])
            del bundle["value"]
            bundle.update(self._deleted_fields(name, record))
            return 200, bundle

    def _purge_deleted_secret(self, name: str) -> tuple[int, dict | None]:
        with self._lock:
            if self.deleted.pop(name, None) is None:
                return _error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
            return 204, None

    def _bundle(self, name: str, version: _Version) -> dict:
        bundle = {
            "value": version.value,
            "id": f"{self.url}/secrets/{name}/{version.version}",
            "attributes": {
                "enabled": version.enabled,
                "created": version.created,
                "updated": version.updated,
                "recoveryLevel": "Recoverable+Purgeable" if self.soft_delete else "Purgeable",
                **({"recoverableDays": 90} if self.soft_delete else {}),
            },
        }
        if version.content_type is not None:
            bundle["contentType"] = version.content_type
        if version.tags:
            bundle["tags"] = version.tags
        return bundle

    def _deleted_fields(self, name: str, record: _Deleted) -> dict:
        return {
            "recoveryId": f"{self.url}/deletedsecrets/{name}",
            "deletedDate": record.deleted_date,
            "scheduledPurgeDate": record.scheduled_purge_date,
        }

    def _challenge(self) -> str:
        return f'Bearer authorization="https://login.microsoftonline.com/{self.tenant_id}", resource="{VAULT_RESOURCE}"'


def _error(status: int, code: str, message: str) -> tuple[int, dict]:
    return status, {"error": {"code": code, "message": message}}


def _not_found(name: str) -> tuple[int, dict]:
    return _error(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you "
        "may be able to recover it using the correct recovery command. "
        "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
    )


def _handler_for(vault: FakeKeyVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeKeyVault/1.0"
        timeout = 10

        def do_GET(self):
            self._serve()

        def do_PUT(self):
            self._serve()

        def do_DELETE(self):
            self._serve()

        def do_POST(self):
            self._serve()

        def do_PATCH(self):
            self._serve()

        def log_message(self, format, *args):  # noqa: A002 - the signature is http.server's
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            query = parse_qs(split.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            authorization = self.headers.get("Authorization") or ""
            scheme, _, token = authorization.partition(" ")
            has_auth = scheme.lower() == "bearer" and bool(token.strip())
            record = RecordedRequest(
                method=self.command,
                path=split.path,
                query=query,
                has_auth=has_auth,
                token=token.strip() if has_auth else None,
                content_type=self.headers.get("Content-Type"),
                body=body if isinstance(body, dict) else None,
            )
            with vault._lock:
                vault.requests.append(record)

            headers: dict[str, str] = {}
            if vault.failure_status is not None:
                status = vault.failure_status
                payload = {"error": {"code": FAILURE_CODES.get(status, "ServiceError"), "message": "Fake outage."}}
            elif not has_auth or (vault.accepted_token is not None and record.token != vault.accepted_token):
                status = 401
                message = (
                    "AKV10000: Request is missing a Bearer or PoP token."
                    if not has_auth
                    else "AKV10032: Invalid token."
                )
                payload = {"error": {"code": "Unauthorized", "message": message}}
                headers["WWW-Authenticate"] = vault._challenge()
            elif not record.api_version:
                status, payload = _error(400, "BadParameter", "The 'api-version' query parameter is missing.")
            else:
                status, payload = vault._handle(self.command, split.path, body)
            record.status = status
            self._respond(status, payload, headers)

        def _respond(self, status: int, payload: dict | None, headers: dict[str, str]) -> None:
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            if payload is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            self.send_header("x-ms-keyvault-service-version", "1.9.0.0")
            self.send_header("x-ms-keyvault-region", "local")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
