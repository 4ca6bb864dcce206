"""Sentry's ingest on 127.0.0.1: takes the SDK's envelopes (`POST /api/<project>/envelope/`, gzip or
not) and its older store calls, and keeps each one's raw text, as it arrived, for a test to read."""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class SentryIngest:
    received: list[str] = field(default_factory=list)  # each envelope's text, decompressed

    def start(self) -> SentryIngest:
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002
                return

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                is_ingest = self.path.startswith("/api/") and self.path.rstrip("/").endswith(("/envelope", "/store"))
                if is_ingest:
                    ingest.received.append(body.decode("utf-8", errors="replace"))
                answer = json.dumps({"id": "0" * 32} if is_ingest else {"detail": "not found"}).encode()
                self.send_response(200 if is_ingest else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server.server_port}/1"

    def events(self) -> list[dict]:
        """The error events received (an envelope's items of type "event"), parsed."""
        found = []
        for envelope in self.received:
            lines = envelope.split("\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
