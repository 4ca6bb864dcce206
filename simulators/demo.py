"""A small local stand-in for a vendor API, used by `make run`'s demo and by the tests.

Bearer tokens authenticate: any non-empty token works except those listed as revoked. A token's
behaviour can be set through `POST /_control` ({"token": …, "fail_status": 500 | null,
"revoked": bool}) so tests and the demo can show failures. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "DEMO_BASE_URL", 8765, "the demo vendor"


class SimulatorState:
    def __init__(self):
        self.lock = threading.Lock()
        self.revoked: set[str] = {"wrong", "invalid"}
        self.fail_status: dict[str, int] = {}
        self.delay_s: dict[str, float] = {}  # slow answers, to catch a worker mid-burst
        self.requests: list[tuple[str, str, str]] = []  # (method, path, token)
        # Events received, by idempotency key: a repeat is acknowledged and not applied twice.
        self.events: dict[str, dict] = {}
        self.event_posts = 0


class DemoHandler(BaseHTTPRequestHandler):
    server_version = "DemoVendor/1.0"
    protocol_version = "HTTP/1.1"  # keep-alive, as vendor APIs answer; every answer has a Content-Length
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    state: SimulatorState

    def log_message(self, format, *args):  # noqa: A002  (quiet: tokens must not reach logs)
        return

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}") if length else {}

    def _token(self) -> str:
        header = self.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else ""

    def _authorised(self) -> str | None:
        token = self._token()
        with self.state.lock:
            self.state.requests.append((self.command, self.path, token))
            if not token or token in self.state.revoked:
                self._send(401, {"error": "invalid_token", "error_description": "The access token is invalid."})
                return None
            status = self.state.fail_status.get(token)
        if status:
            headers = {"Retry-After": "30"} if status == 429 else None
            self._send(status, {"error": "simulated_failure", "status": status}, headers)
            return None
        return token

    def do_GET(self):
        if self.path == "/health":
            return self._send(200, {"ok": True})
        if self.path == "/v1/ping":
            if self._authorised() is not None:
                self._send(200, {"ok": True, "account": "Demo company"})
            return None
        return self._send(404, {"error": "not_found"})

    def do_POST(self):
        body = self._body()  # always read, so a kept-alive connection is ready for the next request
        if self.path == "/_control":
            with self.state.lock:
                token = body["token"]
                if body.get("fail_status"):
                    self.state.fail_status[token] = int(body["fail_status"])
                else:
                    self.state.fail_status.pop(token, None)
                if "delay_s" in body:
                    self.state.delay_s[token] = float(body["delay_s"] or 0)
                if body.get("revoked"):
                    self.state.revoked.add(token)
                elif "revoked" in body:
                    self.state.revoked.discard(token)
            return self._send(200, {"ok": True})
        if self.path == "/v1/events":
            if (token := self._authorised()) is not None:
                time.sleep(self.state.delay_s.get(token, 0))
                key = self.headers.get("Idempotency-Key", "")
                if not key:
                    return self._send(400, {"error": "missing_idempotency_key"})
                with self.state.lock:
                    self.state.event_posts += 1
                    duplicate = key in self.state.events
                    self.state.events.setdefault(key, body)
                self._send(200, {"ok": True, "duplicate": duplicate})
            return None
        if self.path == "/v1/sync":
            if self._authorised() is not None:
                self._send(
                    200,
                    {
                        "direction": "push",
                        "pushed": random.randint(1, 40),
                        "pulled": 0,
                        "record_errors": [],
                        "watermark": datetime.now(UTC).isoformat(),
                    },
                )
            return None
        return self._send(404, {"error": "not_found"})


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = type("BoundDemoHandler", (DemoHandler,), {"state": SimulatorState()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Demo vendor simulator")
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args()
    server = make_server(port=args.port)
    print(f"demo simulator on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
