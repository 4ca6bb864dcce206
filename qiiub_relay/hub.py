"""The hub's relay API (`/api/pos/v1/relay/…`, docs/pharmacy-relay.md) over one kept-alive connection.

Answers become exceptions the loop can act on: NotActive (another relay holds the lease),
TokenRevoked (stop: the relay must be enrolled again), HubUnavailable (retry later) and HubRefused
(the hub will not take this request as it is). Bodies carry PHI, so nothing here logs them: only the
call, the status and the error code.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
from urllib.parse import urlsplit

from qiiub_relay import __version__
from qiiub_relay.adapters.base import OutboundMessage

log = logging.getLogger("qiiub_relay.hub")

API_PATH = "/api/pos/v1/relay/"
TIMEOUT_S = 10.0


class HubError(Exception):
    def __init__(self, code: str, message: str = "", retry_after: float | None = None):
        super().__init__(message or code)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class HubUnavailable(HubError):
    """No answer, a timeout, 429 or 5xx: nothing was refused, try again later."""


class HubRefused(HubError):
    """A 4xx other than 401, 409 relay_not_active and 429: sending the same again will not help."""


class NotActive(HubError):
    """409 relay_not_active: another relay holds the location's lease; `message` names it."""


class TokenRevoked(HubError):
    """401: the hub no longer knows this relay's token."""


def check_hub_url(url: str) -> str:
    """The hub's base URL without a trailing slash; ValueError unless it is https, or http to this
    machine (the token and PHI never cross a network in the clear)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"the hub URL must look like https://hub.example.com, not {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("the hub URL takes no user, password, query or fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"refusing plain http:// to {parts.hostname}: the hub must be reached over https:// "
                         "(plain http is only for a hub on this machine: localhost, 127.0.0.1, ::1)")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class HubClient:
    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = TIMEOUT_S):
        parts = urlsplit(check_hub_url(base_url))
        self._secure = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/") + API_PATH
        self._token = token
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._secure:
                self._connection = http.client.HTTPSConnection(
                    self._netloc, timeout=self._timeout, context=ssl.create_default_context()
                )
            else:
                self._connection = http.client.HTTPConnection(self._netloc, timeout=self._timeout)
        return self._connection

    def _exchange(self, method: str, call: str, body: dict | None, headers: dict) -> tuple[int, dict, bytes]:
        connection = self._connect()
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, self._prefix + call, body=payload, headers=headers)
        response = connection.getresponse()
        content = response.read()
        if response.will_close:
            self.close()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, content

    def _request(self, method: str, call: str, body: dict | None = None, *, etag: str | None = None,
                 retry_stale: bool = True) -> tuple[int, dict, dict | None]:
        """One call: (status, headers, JSON answer) for 2xx and 304, an exception for the rest. A kept-alive
        connection the hub has closed meanwhile is retried once on a new one, unless the call must
        not be sent twice (enrollment)."""
        headers = {"User-Agent": f"qiiub-relay/{__version__}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if etag:
            headers["If-None-Match"] = etag
        started = time.monotonic()
        attempts = 2 if retry_stale else 1
        for attempt in range(1, attempts + 1):
            reused = self._connection is not None and self._connection.sock is not None
            try:
                status, answer_headers, content = self._exchange(method, call, body, headers)
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                self.close()
                if not (reused and attempt < attempts):
                    raise HubUnavailable("hub_connection_lost") from error
            except TimeoutError as error:
                self.close()
                raise HubUnavailable("hub_timeout") from error
            except ssl.SSLError as error:
                self.close()
                raise HubUnavailable("hub_tls_error") from error
            except (OSError, http.client.HTTPException) as error:
                self.close()
                code = "hub_name_not_found" if isinstance(error, socket.gaierror) else "hub_unreachable"
                raise HubUnavailable(code) from error
        log.debug("event=hub_call call=%s status=%d ms=%d", call.split("?")[0], status,
                  (time.monotonic() - started) * 1000)
        answer = self._json(content)
        if 200 <= status < 300 or status == 304:
            return status, answer_headers, answer
        error = answer.get("error") if isinstance(answer, dict) else None
        error = error if isinstance(error, dict) else {}
        code, message = str(error.get("code") or f"http_{status}"), str(error.get("message") or "")
        if status == 401:
            raise TokenRevoked(code, message)
        if status == 409 and code == "relay_not_active":
            raise NotActive(code, message)
        if status == 429 or status >= 500:
            raise HubUnavailable(f"hub_http_{status}", message, _retry_after(answer_headers.get("retry-after")))
        raise HubRefused(code, message)

    @staticmethod
    def _json(content: bytes) -> dict | None:
        """The answer's JSON, or None (an empty answer, or a proxy's HTML error page)."""
        try:
            return json.loads(content) if content else None
        except ValueError:
            return None

    @staticmethod
    def _answer(answer: dict | None, *fields: str) -> dict:
        """A 2xx answer with the fields the relay needs, or HubUnavailable: a hub that answers
        nonsense is treated as one that does not answer."""
        if not isinstance(answer, dict) or any(field not in answer for field in fields):
            raise HubUnavailable("hub_malformed_answer")
        return answer

    def enroll(self, code: str, name: str, public_key: str) -> dict:
        """Trades the one-time code for the relay's token ({"token", "relay"}); never sent twice."""
        body = {"code": code, "name": name, "public_key": public_key, "app_version": __version__}
        _, _, answer = self._request("POST", "enroll", body, retry_stale=False)
        answer = self._answer(answer, "token", "relay")
        if not isinstance(answer["token"], str) or not answer["token"]:
            raise HubUnavailable("hub_malformed_answer")
        return answer

    def config(self, etag: str | None) -> tuple[dict | None, str | None]:
        """(config, its ETag), or (None, etag) when the config has not changed since `etag`."""
        status, headers, answer = self._request("GET", "config", etag=etag)
        if status == 304:
            return None, etag
        return self._answer(answer, "timing", "pharmacy"), headers.get("etag")

    def heartbeat(self, queue_depth: int, pharmacy_reachable: bool | None, last_error: dict | None,
                  config_version: str | None) -> dict:
        body = {"queue_depth": queue_depth, "pharmacy_reachable": pharmacy_reachable, "last_error": last_error,
                "app_version": __version__}
        if config_version is not None:
            body["config_version"] = config_version
        _, _, answer = self._request("POST", "heartbeat", body)
        return self._answer(answer, "active")

    def push_changes(self, changes: list[dict]) -> dict:
        """Pushes changes in order; a complete list (status "complete") may only come last."""
        body: dict = {"changes": [change for change in changes if change["status"] != "complete"]}
        if changes and changes[-1]["status"] == "complete":
            body["complete"] = {"message_id": changes[-1]["message_id"], "listed": changes[-1]["listed"]}
        _, _, answer = self._request("POST", "prescriptions", body)
        return self._answer(answer)

    def outbox(self, limit: int) -> list[OutboundMessage]:
        _, _, answer = self._request("GET", f"outbox?limit={limit}")
        messages = self._answer(answer, "messages")["messages"]
        try:
            return [OutboundMessage(id=str(message["id"]), number=int(message["number"]), kind=str(message["kind"]),
                                    body=dict(message["body"])) for message in messages]
        except (KeyError, TypeError, ValueError) as error:
            raise HubUnavailable("hub_malformed_answer") from error

    def send_acks(self, acks: list[dict]) -> dict:
        _, _, answer = self._request("POST", "acks", {"acks": acks})
        return self._answer(answer)


BACKOFF_CAP_S = 60.0


def backoff_delay(failures: int, random_fraction: float, retry_after: float | None = None) -> float:
    """1 s, 2 s, 4 s … up to a minute, jittered down to half so a chain's relays do not all come back
    at the same second after a hub outage; never sooner than the hub's Retry-After."""
    ceiling = min(BACKOFF_CAP_S, 2.0 ** (failures - 1))
    return max(ceiling * (0.5 + random_fraction / 2), retry_after or 0.0)
