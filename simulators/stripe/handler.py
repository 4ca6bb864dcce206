"""The Stripe fake's HTTP side: every vendor request is authenticated (`Authorization: Bearer sk_…`, the key's own
account), recorded, its form body read (POSTs must be `application/x-www-form-urlencoded`), counted when a POST comes
without an `Idempotency-Key`, failed if a test scheduled a failure, answered from the key's stored first answer when
replayed, and routed. Every answer carries `Request-Id: req_…`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from urllib.parse import urlsplit

from simulators.base import FakeHandler, Rejected, Reply
from simulators.stripe import listing, payments
from simulators.stripe.errors import failure_reply, idempotency_mismatch, invalid, unrecognized_url
from simulators.stripe.forms import Call, nest, parse_pairs
from simulators.stripe.ledger import Stored
from simulators.stripe.objects import request_id
from simulators.stripe.state import StripeState

FORM = "application/x-www-form-urlencoded"
MAX_IDEMPOTENCY_KEY = 255
ID = r"([A-Za-z0-9_]+)"
ROUTES: list[tuple[str, re.Pattern, Callable[..., Reply]]] = [
    (method, re.compile(pattern), route)
    for method, pattern, route in (
        ("POST", "/v1/payment_intents", payments.create_payment_intent),
        ("GET", f"/v1/payment_intents/{ID}", partial(listing.retrieve, "payment_intent")),
        ("POST", f"/v1/payment_intents/{ID}/confirm", payments.confirm_payment_intent),
        ("POST", f"/v1/payment_intents/{ID}/capture", payments.capture_payment_intent),
        ("POST", f"/v1/payment_intents/{ID}/cancel", payments.cancel_payment_intent),
        ("POST", "/v1/refunds", payments.create_refund),
        ("GET", "/v1/refunds", listing.refunds),
        ("GET", f"/v1/refunds/{ID}", partial(listing.retrieve, "refund")),
        ("GET", f"/v1/charges/{ID}", partial(listing.retrieve, "charge")),
        ("GET", f"/v1/disputes/{ID}", partial(listing.retrieve, "dispute")),
        ("GET", "/v1/balance_transactions", listing.balance_transactions),
        ("GET", f"/v1/balance_transactions/{ID}", partial(listing.retrieve, "balance_transaction")),
        ("GET", "/v1/payouts", listing.payouts),
        ("GET", f"/v1/payouts/{ID}", partial(listing.retrieve, "payout")),
        ("GET", "/v1/events", listing.events),
        ("GET", f"/v1/events/{ID}", partial(listing.retrieve, "event")),
    )
]


class StripeHandler(FakeHandler):
    server_version = "StripeSimulator/1.0"
    request_id_header = "Request-Id"
    state: StripeState

    def request_id(self) -> str:
        # the id made when the request came in (events name it); one handler serves a whole keep-alive connection
        return self.__dict__.pop("current_request_id", None) or request_id()

    def answer(self, path: str, raw: bytes) -> Reply:
        self.current_request_id = current = request_id()
        key = self.headers.get("Idempotency-Key")
        with self.state.lock:
            record = self.state.record_request(self.command, path, key)
            try:
                reply = self._answer(path, raw, current, key, record)
            except Rejected as rejected:
                reply = rejected.reply
            record["status"] = reply.status
            return self.state.with_card_number(reply)

    # --- called with the state lock held ---

    def _answer(self, path: str, raw: bytes, current: str, key: str | None, record: dict) -> Reply:
        state, posted = self.state, self.command == "POST"
        account = state.authenticate(self.headers.get("Authorization", ""))
        account.requests += 1
        record["account"] = account.masked
        if posted and key is None:
            account.posts_without_idempotency_key += 1
        pairs = self._form(raw) if posted else parse_pairs(urlsplit(self.path).query)
        params = record["params"] = nest(pairs)
        if posted and key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
            raise invalid(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters long (got {len(key)}).")
        remembered = posted and key is not None
        fingerprint = json.dumps([self.command, path, sorted(pairs)])
        if fail := state.faults.due():  # in front of everything, as Stripe's edge and rate limiter are
            reply = failure_reply(fail)
            if remembered and fail.status == 500:  # an execution that failed: its key keeps the failure
                account.idempotent.setdefault(key, Stored(fingerprint, reply))
            return reply
        if remembered and (stored := account.idempotent.get(key)):
            if stored.fingerprint != fingerprint:
                return idempotency_mismatch(key)
            return stored.reply._replace(headers={**(stored.reply.headers or {}), "Idempotent-Replayed": "true"})
        for method, pattern, route in ROUTES:
            if method == self.command and (match := pattern.fullmatch(path)):
                # a Rejected (a request refused before it did anything) passes through and is not stored
                reply = route(Call(state, account, params, {"id": current, "idempotency_key": key}), *match.groups())
                if remembered:
                    account.idempotent[key] = Stored(fingerprint, reply)
                return reply
        return unrecognized_url(self.command, path)

    def _form(self, raw: bytes) -> list[tuple[str, str]]:
        media = self._media_type()
        if (raw or media) and media != FORM:  # an empty POST may come without a Content-Type
            raise invalid(f"Invalid request: v1 POST bodies must be {FORM}, not {media or 'untyped'}.")
        return parse_pairs(raw)
