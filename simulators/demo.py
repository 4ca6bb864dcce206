"""A small local stand-in for a vendor API, used by `make run`'s demo, the tests and `make bench-events`.

Bearer tokens authenticate: any non-empty token works except those listed as revoked. A token's
behaviour can be set through `POST /_control` ({"token": …, "fail_status": 500 | null,
"delay_s": 2, "revoked": bool}) so tests, benchmarks and the demo can show failures and slow answers.
Built to keep up with the event bus's workers (dozens of keep-alive connections): every answer keeps its
connection open, and the shared state's lock is held only to read or record, never across I/O or a delay.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from simulators.base import FakeServer

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "DEMO_BASE_URL", 8765, "the demo vendor"


class ReceivedEvents(Mapping):
    """Events received, by idempotency key, each kept as the bytes sent and read back as JSON. Bytes, because
    a benchmark sends a hundred thousand: as parsed objects they would make each full pass of the garbage
    collector long enough to show in the latencies it measures."""

    def __init__(self):
        self._bodies: dict[str, bytes] = {}

    def __getitem__(self, key: str):
        return json.loads(self._bodies[key] or b"{}")

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._bodies))

    def __len__(self) -> int:
        return len(self._bodies)

    def add(self, key: str, body: bytes) -> bool:
        """Keeps the first body sent under `key`; returns whether the key had been seen already."""
        if key in self._bodies:
            return True
        self._bodies[key] = body
        return False


class SimulatorState:
    def __init__(self):
        self.lock = threading.Lock()
        self.revoked: set[str] = {"wrong", "invalid"}
        self.fail_status: dict[str, int] = {}
        self.delay_s: dict[str, float] = {}  # slow answers: to catch a worker mid-burst, or a slow vendor
        # A repeat of a key is acknowledged and not applied twice.
        self.events = ReceivedEvents()
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

    def _raw_body(self) -> bytes:
        # Always read whole, so a kept-alive connection is ready for the next request.
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _token(self) -> str:
        header = self.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else ""

    def _authorised(self) -> str | None:
        """The request's token, or None once a refusal (or the failure steered for the token) was sent."""
        token = self._token()
        with self.state.lock:
            refused = not token or token in self.state.revoked
            status = None if refused else self.state.fail_status.get(token)
        if refused:
            self._send(401, {"error": "invalid_token", "error_description": "The access token is invalid."})
            return None
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
        raw = self._raw_body()
        if self.path == "/_control":
            return self._control(json.loads(raw or b"{}"))
        if self.path == "/v1/events":
            if (token := self._authorised()) is not None:
                time.sleep(self.state.delay_s.get(token, 0))  # outside the lock: one slow token holds no other
                key = self.headers.get("Idempotency-Key", "")
                if not key:
                    return self._send(400, {"error": "missing_idempotency_key"})
                with self.state.lock:
                    self.state.event_posts += 1
                    duplicate = self.state.events.add(key, raw)
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

    def _control(self, body: dict) -> None:
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
        self._send(200, {"ok": True})


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = type("BoundDemoHandler", (DemoHandler,), {"state": SimulatorState()})
    return FakeServer((host, port), handler)


def main() -> None:
    parser = argparse.ArgumentParser(description="Demo vendor simulator")
    parser.add_argument("--port", type=int, default=PORT)
    args = parser.parse_args()
    server = make_server(port=args.port)
    print(f"demo simulator on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
