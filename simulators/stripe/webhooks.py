"""Stripe's webhook deliveries from the fake: each event POSTed as JSON to every endpoint of its account, signed as
Stripe signs (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(endpoint secret, "<t>.<raw body>")>`), from one
background thread so that no request (and never the state lock) waits on a receiver. One attempt each [inf: Stripe
retries for three days]; the answer's status (None when the endpoint could not be reached) is recorded in the state.
`signature_header` lets tests sign bodies themselves."""

from __future__ import annotations

import hashlib
import hmac
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

TIMEOUT_S = 5
# Straight to the endpoint: a proxy from the environment must not carry deliveries to 127.0.0.1
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send with `payload` for an endpoint with `secret` (whsec_…)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def post(url: str, secret: str, payload: bytes) -> int | None:
    """One delivery attempt: the receiver's status, or None when it could not be reached."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        "Stripe-Signature": signature_header(payload, secret),
    }
    request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_S) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return None


class Deliverer:
    """Sends queued deliveries in order on its own thread; `finished(delivery, status)` is called after each.
    A delivery queued before a reset (`generation` moved on) is dropped unsent."""

    def __init__(self, finished: Callable[[dict, int | None], None], current: Callable[[int], bool]):
        self._finished, self._current = finished, current
        self._queue: queue.Queue[tuple[int, str, bytes, dict]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def send(self, generation: int, secret: str, payload: bytes, delivery: dict) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stripe-webhooks", daemon=True)
                self._thread.start()
        self._queue.put((generation, secret, payload, delivery))

    def _run(self) -> None:
        while True:
            generation, secret, payload, delivery = self._queue.get()
            if self._current(generation):
                self._finished(delivery, post(delivery["url"], secret, payload))
