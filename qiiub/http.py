"""Outbound HTTP, the same for every call to another system (vendors, OAuth token endpoints,
merchants' webhook endpoints): keep-alive sessions that carry nothing of one merchant, and the
typed errors an answer means."""

from __future__ import annotations

import threading
from http.cookiejar import DefaultCookiePolicy

import requests
from django.conf import settings

from qiiub.errors import ApplicationError
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
        session = private_session()
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        _thread_sessions.session = session
    return session


def private_session() -> requests.Session:
    """A session of one's own, for a vendor that signs in with cookies (Acumatica): the caller
    closes it when done, so its cookies never serve another merchant. Same environment rules as
    the shared session."""
    session = requests.Session()
    session.trust_env = False
    if settings.OUTBOUND_PROXY:
        session.proxies = {"http": settings.OUTBOUND_PROXY, "https": settings.OUTBOUND_PROXY}
    return session


class ConnectorError(ApplicationError):
    code = "connector_error"
    http_status = 502
    # What a merchant admin should do about it, in plain words.
    advice = "The system is retrying; if it keeps failing, contact support."


class AuthExpired(ConnectorError):
    code = "auth_expired"
    advice = "Re-enter the credentials (or reconnect) and test the connection again."


class RateLimited(ConnectorError):
    code = "rate_limited"
    advice = "The vendor is limiting requests; the sync will retry after the wait it asked for."

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message, extra={"retry_after": retry_after})
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, message: str, response: requests.Response) -> RateLimited:
        return cls(message, retry_after=retry_after_seconds(response.headers.get("Retry-After")))


def error_for_status(response: requests.Response, *, who: str) -> ConnectorError | None:
    """What an answer means the same way for every outbound call (connectors, OAuth token endpoints,
    webhook endpoints): a 429 is a wait, with the Retry-After read; a 5xx is the other side being
    down. None for anything else: a success, or a refusal each caller words in its own terms."""
    status = response.status_code
    if status == 429:
        return RateLimited.from_response(f"{who} is rate limiting requests.", response)
    if status >= 500:
        return VendorUnavailable(f"{who} answered {status}.")
    return None


class VendorUnavailable(ConnectorError):
    code = "vendor_unavailable"
    advice = "The vendor's service is down or unreachable; the sync will retry on its own."


class VendorRejected(ConnectorError):
    code = "vendor_rejected"
    advice = "The vendor refused the data: check the configuration and mappings named in the message."

    def __init__(self, message: str, *, detail: str = ""):
        super().__init__(message, extra={"detail": detail})
        self.detail = detail
