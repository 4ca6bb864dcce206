"""Outbound HTTP, the same for every call to another system (vendors, OAuth token endpoints,
merchants' webhook endpoints): keep-alive sessions that carry nothing of one merchant, and the
typed errors an answer means."""

from __future__ import annotations

import threading
from functools import lru_cache
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from django.conf import settings
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict

from qiiub.errors import ApplicationError
from qiiub.messages import Message, message_text
from qiiub.retry import retry_after_seconds

_thread_sessions = threading.local()


def shared_session() -> requests.Session:
    """This thread's keep-alive HTTP session: connectors reuse vendor connections from call to call.

    It serves every merchant, so it holds nothing of one: no cookies are kept, and credentials go
    in each request's headers, never on the session. It ignores the process environment (proxy
    variables, .netrc): requests would re-read it on every call, and a credential from .netrc
    must not ride along. A proxy comes from OUTBOUND_PROXY.
    """
    session = getattr(_thread_sessions, "session", None)
    if session is None:
        session = _without_environment(_LeanSession())
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        _thread_sessions.session = session
    return session


class _LeanSession(requests.Session):
    """requests' Session without the per-call work the shared session never needs: merging its
    (never kept) cookies and the process environment into every request, and parsing the same URL
    again for every call (prepared once per URL). About a third less client CPU per POST, on the
    path every delivery takes. A call with cookies, files, auth, hooks or streaming takes the
    ordinary path."""

    def request(self, method, url, params=None, data=None, headers=None, json=None, timeout=None,
                allow_redirects=True, verify=None, **others):
        if any(value is not None for value in others.values()):
            return super().request(method, url, params=params, data=data, headers=headers, json=json, timeout=timeout,
                                   allow_redirects=allow_redirects, verify=verify, **others)
        prepared = PreparedRequest()
        prepared.method = method.upper()
        prepared.url = _prepared_url(url) if not params else _prepared_url_with(url, params)
        prepared.headers = CaseInsensitiveDict(self.headers)
        for name, value in (headers or {}).items():
            if value is None:
                prepared.headers.pop(name, None)
            else:
                prepared.headers[name] = value
        prepared._cookies = RequestsCookieJar()
        prepared.prepare_body(data or {}, None, json)
        prepared.hooks = default_hooks()
        return self.send(prepared, timeout=timeout, allow_redirects=allow_redirects,
                         verify=self.verify if verify is None else verify, proxies=self.proxies, stream=False,
                         cert=self.cert)


@lru_cache(maxsize=512)
def _prepared_url(url: str) -> str:
    return _prepared_url_with(url, None)


def _prepared_url_with(url: str, params) -> str:
    prepared = PreparedRequest()
    prepared.prepare_url(url, params)
    return prepared.url


def private_session() -> requests.Session:
    """A session of one's own, for a vendor that signs in with cookies (Acumatica): the caller
    closes it when done, so its cookies never serve another merchant. Same environment rules as
    the shared session."""
    return _without_environment(requests.Session())


def _without_environment(session: requests.Session) -> requests.Session:
    session.trust_env = False
    if settings.OUTBOUND_PROXY:
        session.proxies = {"http": settings.OUTBOUND_PROXY, "https": settings.OUTBOUND_PROXY}
    return session


class ConnectorError(ApplicationError):
    """A call to another system failed. It carries a catalog code (`qiiub.messages`) and its
    parameters, not a sentence: what is stored of it is put into words by whoever reads it."""

    code = "connector_error"
    http_status = 502

    def __init__(self, reason: str, /, *, extra: dict[str, Any] | None = None, **params: Any):
        Exception.__init__(self, reason)
        self.reason, self.params = reason, params
        self.extra = {**(extra or {}), "reason": reason}

    @property
    def message(self) -> str:
        return message_text(self.reason, self.params)

    def stored(self) -> dict[str, Any]:
        return Message(self.reason, self.params).stored()

    def __str__(self) -> str:
        return self.message


class AuthExpired(ConnectorError):
    code = "auth_expired"


class RateLimited(ConnectorError):
    code = "rate_limited"

    def __init__(self, reason: str, /, *, retry_after: float | None = None, **params: Any):
        super().__init__(reason, extra={"retry_after": retry_after}, **params)
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, reason: str, response: requests.Response, **params: Any) -> RateLimited:
        return cls(reason, retry_after=retry_after_seconds(response.headers.get("Retry-After")), **params)


def error_for_status(response: requests.Response, *, who: str) -> ConnectorError | None:
    """What an answer means the same way for every outbound call (connectors, OAuth token endpoints,
    webhook endpoints): a 429 is a wait, with the Retry-After read; a 5xx is the other side being
    down. None for anything else: a success, or a refusal each caller words in its own terms."""
    status = response.status_code
    if status == 429:
        return RateLimited.from_response("vendor_rate_limited", response, vendor=who)
    if status >= 500:
        return VendorUnavailable("vendor_status", vendor=who, status=status)
    return None


class VendorUnavailable(ConnectorError):
    code = "vendor_unavailable"


class VendorRejected(ConnectorError):
    code = "vendor_rejected"

    def __init__(self, reason: str, /, *, detail: str = "", **params: Any):
        super().__init__(reason, extra={"detail": detail}, **params)
        self.detail = detail
