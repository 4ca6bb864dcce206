"""HTTP for the adapters that call a pharmacy system: one keep-alive connection, answers capped in size, TLS verified
(by the system trust store or a store's self-issued certificate), plain HTTP only to this machine, and every network
failure turned into a PharmacyUnavailable code. No message here quotes what was sent or answered: prescriptions,
patients and signatures stay out of exceptions and logs. Standard library only."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass

from qiiub_relay.adapters.base import PharmacyUnavailable

MAX_ANSWER_BYTES = 5 * 1024 * 1024
TIMEOUT_S = 15.0


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_tls_off_loopback(host: str, tls: bool) -> None:
    """Patient data crosses the store's LAN only encrypted: plain HTTP is for this machine alone (tests, a fake)."""
    if not tls and not is_loopback(host):
        raise ValueError("plain HTTP to a pharmacy system is allowed only on this machine (loopback): use TLS")


def malformed() -> PharmacyUnavailable:
    return PharmacyUnavailable("malformed_answer", "the pharmacy system's answer could not be read")


@dataclass(frozen=True)
class Answer:
    status: int
    media_type: str  # the Content-Type without parameters, lower case
    body: bytes


class Connection:
    """One pharmacy system's HTTP(S) endpoint, used from one thread at a time."""

    def __init__(self, host: str, port: int, *, tls: bool, ca_file: str | None = None, timeout_s: float = TIMEOUT_S):
        if not host:
            raise ValueError("the pharmacy system's host is missing")
        require_tls_off_loopback(host, tls)
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._context = ssl.create_default_context(cafile=ca_file) if tls else None
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        reused = self._connection is not None and self._connection.sock is not None
        try:
            return self._exchange(method, path, body, headers)
        except PharmacyUnavailable as error:
            if not (reused and error.code == "connection_lost"):
                raise
        # the system had closed an idle keep-alive connection; every call the adapters make may be repeated
        return self._exchange(method, path, body, headers)

    def _exchange(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            connection = self._open()
            connection.request(method, path, body=body, headers=headers)
            return self._read(connection.getresponse())
        except PharmacyUnavailable:
            self.close()
            raise
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            raise PharmacyUnavailable("connection_lost", "the pharmacy system closed the connection") from None
        except TimeoutError:
            self.close()
            raise PharmacyUnavailable("timeout", "the pharmacy system did not answer in time") from None
        except ssl.SSLCertVerificationError:
            self.close()
            raise PharmacyUnavailable("tls_certificate_refused", "the pharmacy system's certificate is not trusted "
                                      "(configure ca_file for a self-issued one)") from None
        except ssl.SSLError:
            self.close()
            raise PharmacyUnavailable("tls_failed", "the TLS handshake with the pharmacy system failed") from None
        except ConnectionRefusedError:
            self.close()
            raise PharmacyUnavailable("connection_refused", "the pharmacy system refused the connection") from None
        except socket.gaierror:
            self.close()
            raise PharmacyUnavailable("host_unknown", "the pharmacy system's host name does not resolve") from None
        except OSError:
            self.close()
            raise PharmacyUnavailable("connection_failed", "the pharmacy system cannot be reached") from None
        except http.client.HTTPException:
            self.close()
            raise malformed() from None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._context is not None:
                self._connection = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s,
                                                               context=self._context)
            else:
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        return self._connection

    def _read(self, response: http.client.HTTPResponse) -> Answer:
        """The whole answer, or malformed_answer past MAX_ANSWER_BYTES (then the connection is dropped unread)."""
        declared = response.getheader("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
            raise malformed()
        body = response.read(MAX_ANSWER_BYTES + 1)
        if len(body) > MAX_ANSWER_BYTES:
            raise malformed()
        if response.will_close:
            self.close()
        media_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
        return Answer(response.status, media_type, body)
