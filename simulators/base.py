"""What the vendor fakes (QuickBooks, Xero, Acumatica, Shopify) share: the HTTP plumbing, none of a vendor's ways.

A fake is a package: a `FakeHandler` subclass that answers its vendor's routes in `answer`, a state object shaped as
`FakeState`, a `make_server` built on `serve` in its `__init__` and a `__main__` built on `run_main`. Every fake
answers `GET /health`, takes test steering at `POST /_control` (`delay_s` slows every vendor route, in any fake: see
`faults`) and shows what it was sent at `GET /_state`. Fakes of an OAuth 2 vendor build on `oauth`.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple, Protocol
from urllib.parse import parse_qs, urlsplit

from simulators.faults import parse_delay

JSON = "application/json; charset=utf-8"

Headers = dict[str, str] | list[tuple[str, str]]  # a list where a header repeats (Set-Cookie)


class Reply(NamedTuple):
    status: int
    payload: bytes
    content_type: str = JSON
    headers: Headers | None = None


class Rejected(Exception):
    """Ends a request early with a ready answer."""

    def __init__(self, reply: Reply):
        super().__init__(reply.status)
        self.reply = reply


def json_reply(status: int, body, headers: Headers | None = None, content_type: str = JSON) -> Reply:
    return Reply(status, json.dumps(body).encode(), content_type, headers)


def text_reply(status: int, text: str) -> Reply:
    return Reply(status, text.encode(), "text/plain; charset=utf-8")


def mask(secret: str) -> str:
    """What /_state shows of a token, key or secret: its last four characters (none of a short one)."""
    return f"…{secret[-4:]}" if len(secret) > 6 else "…"


def masked(body, secret_fields: tuple[str, ...]):
    """A request body as /_state shows it: each secret field reduced by `mask`."""
    if isinstance(body, dict):
        return {key: mask(value) if key in secret_fields and isinstance(value, str) else value
                for key, value in body.items()}
    return body


def prune(window: deque[float], now: float) -> deque[float]:
    """Drops the times (time.monotonic()) older than a minute from a rolling rate-limit window."""
    while window and window[0] <= now - 60:
        window.popleft()
    return window


class FakeState(Protocol):
    """What `FakeHandler` needs of a fake's memory; hold `lock` while reading or changing it."""

    lock: threading.Lock

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""

    def snapshot(self) -> dict:
        """What `GET /_state` shows."""


class FakeHandler(BaseHTTPRequestHandler):
    """Answers `/health`, `/_state` and `/_control`, hands every other request to `answer`, and sends the reply."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the vendors answer; every answer has a Content-Length
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall
    json_type = JSON  # the Content-Type of the answers to /health, /_state and /_control
    request_id_header: str | None = None  # the header that numbers each answer, where the vendor sends one
    state: FakeState  # bound by `serve`
    params: dict[str, str]  # the query string; a repeated name keeps its last value

    def log_message(self, format, *args):  # noqa: A002  (quiet: tokens, cookies and passwords must not reach logs)
        return

    # GET and POST only: a fake whose vendor takes PUT or DELETE adds them, so that elsewhere they stay a 501
    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def answer(self, path: str, raw: bytes) -> Reply:
        """The vendor's own routes: every request but /health, /_state and /_control; a Rejected is answered too."""
        raise NotImplementedError

    def request_id(self) -> str:
        """The value of `request_id_header`: a UUID, unless the vendor numbers its answers otherwise."""
        return str(uuid.uuid4())

    def _handle(self) -> None:
        url = urlsplit(self.path)
        self.params = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))  # always read: keeps keep-alive usable
        route = (self.command, url.path)
        if route == ("GET", "/health"):
            reply = json_reply(200, {"ok": True}, content_type=self.json_type)
        elif route == ("GET", "/_state"):
            with self.state.lock:
                reply = json_reply(200, self.state.snapshot(), content_type=self.json_type)
        elif route == ("POST", "/_control"):
            reply = self._control(raw)
        else:
            time.sleep(getattr(self.server, "answer_delay_s", 0))  # a slow vendor, for timeout tests
            try:
                reply = self.answer(url.path, raw)
            except Rejected as rejected:
                reply = rejected.reply
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.payload)))
        if self.request_id_header:
            self.send_header(self.request_id_header, self.request_id())
        headers = reply.headers or []
        for name, value in headers.items() if isinstance(headers, dict) else headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.payload)

    def _media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def _control(self, raw: bytes) -> Reply:
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            delay = parse_delay(body)
            with self.state.lock:
                self.state.control(body)
                if delay is not None:
                    self.server.answer_delay_s = delay
        except ValueError as error:
            return json_reply(400, {"ok": False, "error": str(error)}, content_type=self.json_type)
        return json_reply(200, {"ok": True}, content_type=self.json_type)


class FakeServer(ThreadingHTTPServer):
    # Connections waiting to be accepted. The default (5) resets connections when the event workers'
    # senders (dozens) connect at once; the kernel caps it at net.core.somaxconn.
    request_queue_size = 1024
    daemon_threads = True  # a kept-alive connection must not hold up the server's shutdown


def serve(handler_class: type[FakeHandler], state: FakeState, host: str, port: int) -> ThreadingHTTPServer:
    """A server whose requests all share `state`, kept as `server.state` too: in-process tests read it."""
    handler = type(f"Bound{handler_class.__name__}", (handler_class,), {"state": state})
    server = FakeServer((host, port), handler)
    server.state = state
    return server


def run_main(
    name: str, description: str, default_port: int, make_server: Callable[..., ThreadingHTTPServer], **options: str
) -> None:
    """A fake's command line: `--port`, and `--some-option` (default given) for each keyword of its make_server."""
    parser = argparse.ArgumentParser(prog=f"python -m {make_server.__module__}", description=description)
    parser.add_argument("--port", type=int, default=default_port)
    for option, default in options.items():
        parser.add_argument(f"--{option.replace('_', '-')}", default=default)
    server = make_server(**vars(parser.parse_args()))
    print(f"{name} simulator on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
