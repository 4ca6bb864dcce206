"""A merchant's webhook receiver over HTTPS on 127.0.0.1: records what it gets, answers as told."""

from __future__ import annotations

import shutil
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from simulators.tls import self_signed_certificate


@dataclass
class Received:
    headers: dict
    body: bytes


@dataclass
class WebhookReceiver:
    status: int = 200
    delay_s: float = 0  # answer this late (a receiver that times out)
    headers: dict = field(default_factory=dict)  # extra answer headers (Retry-After)
    body: bytes | None = None  # what it answers, instead of its usual short JSON
    received: list[Received] = field(default_factory=list)
    expired_certificate: bool = False  # serve a certificate that ran out (clients fail the TLS handshake)

    def start(self) -> WebhookReceiver:
        self._dir = Path(tempfile.mkdtemp(prefix="webhook-receiver-"))
        cert_path, key_path = self_signed_certificate(self._dir, expired=self.expired_certificate)
        self.cert_path = str(cert_path)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                return

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                time.sleep(receiver.delay_s)
                payload = receiver.body or (b'{"ok": true}' if 200 <= receiver.status < 300
                                            else b'{"error": "receiver says no"}')
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_port}/hooks/qiiub"

    def stop(self) -> None:
        self.server.shutdown()
        shutil.rmtree(self._dir, ignore_errors=True)
