"""Everything the Stripe fake remembers: an account per secret key (kept by digest, shown masked), revoked keys, the
fee schedule, injected failures, the armed `card_number_in_next_answer`, the last 50 requests; what `POST /_control`
changes in it (validated whole before anything changes) and what `GET /_state` shows (never a whole key)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import deque

from simulators.base import Reply
from simulators.faults import Faults, with_card_number
from simulators.stripe.errors import MISSING_KEY, unauthorized
from simulators.stripe.ledger import Account
from simulators.stripe.objects import event, processing_fee
from simulators.stripe.planting import make_payouts, parse_charges, parse_payouts, plant_charges
from simulators.stripe.webhooks import Deliverer

KEY_FORMAT = re.compile(r"sk_(test|live)_[A-Za-z0-9]{8,}")
KEY_PREFIX = re.compile(r"[a-z]{2}_(test|live)_")
DEFAULT_FEE_PERCENT, DEFAULT_FEE_FIXED = 2.9, 30
RECENT_REQUESTS = 50
WEBHOOK_URL = re.compile(r"https?://[^\s/]+(/\S*)?")
CONTROL_KEYS = frozenset(
    ("reset", "fail", "revoked_keys", "fee_percent", "fee_fixed", "charges", "payouts",
     "card_number_in_next_answer", "webhook_endpoints")
)


def digest(key: str) -> str:
    """Keys are kept only as digests: nothing the fake holds could be logged or shown whole."""
    return hashlib.sha256(key.encode()).hexdigest()


def mask(key: str) -> str:
    """`sk_test_****1234`, as Stripe quotes a key; a short one shows no tail, so no key is ever shown whole."""
    prefix = KEY_PREFIX.match(key)
    head = prefix.group(0) if prefix else ""
    rest = key[len(head):]
    return f"{head}****{rest[-4:] if len(rest) >= 8 else ''}"


def valid_key(key) -> None:
    if not isinstance(key, str) or not KEY_FORMAT.fullmatch(key):
        raise ValueError("account keys must be secret keys like sk_test_… (8 or more letters and digits after it)")


def parse_endpoints(value) -> dict[str, list[dict]]:
    if not isinstance(value, dict):
        raise ValueError('webhook_endpoints must be {"<secret key>": [{"url": …, "secret": "whsec_…"}, …]}')
    for key, endpoints in value.items():
        valid_key(key)
        if not isinstance(endpoints, list) or not all(
            isinstance(endpoint, dict) and set(endpoint) == {"url", "secret"}
            and isinstance(endpoint["url"], str) and WEBHOOK_URL.fullmatch(endpoint["url"])
            and isinstance(endpoint["secret"], str) and endpoint["secret"].startswith("whsec_")
            for endpoint in endpoints
        ):
            raise ValueError("webhook_endpoints.<key> must be a list of {url: http(s)://…, secret: whsec_…}")
    return value


class StripeState:
    """Everything the fake remembers; hold `lock` while reading or changing it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.faults = Faults((409, 429, 500, 502, 503))
        self.generation = 0  # moves on at each reset: deliveries queued before it are dropped
        self.deliverer = Deliverer(self._delivered, lambda generation: generation == self.generation)
        self.reset()

    def reset(self) -> None:
        self.generation += 1
        self.accounts: dict[str, Account] = {}  # key digest → account
        self.revoked: set[str] = set()  # key digests
        self.fee_percent, self.fee_fixed = DEFAULT_FEE_PERCENT, DEFAULT_FEE_FIXED
        self.faults.scheduled = None
        self.card_number_next: str | None = None
        self.recent_requests: deque[dict] = deque(maxlen=RECENT_REQUESTS)
        self.unauthenticated_requests = 0

    def account(self, key: str) -> Account:
        """The key's account, made on its first use."""
        hashed = digest(key)
        if hashed not in self.accounts:
            self.accounts[hashed] = Account(mask(key), key.startswith("sk_live_"))
        return self.accounts[hashed]

    def authenticate(self, authorization: str) -> Account:
        """The account of `Authorization: Bearer sk_…`; a 401 Rejected otherwise."""
        scheme, _, key = authorization.strip().partition(" ")
        key = key.strip()
        if not scheme:
            self.unauthenticated_requests += 1
            raise unauthorized(MISSING_KEY)
        if scheme.lower() != "bearer" or not KEY_FORMAT.fullmatch(key):
            self.unauthenticated_requests += 1
            raise unauthorized(f"Invalid API Key provided: {mask(key or scheme)}")
        if digest(key) in self.revoked:
            self.unauthenticated_requests += 1
            raise unauthorized(f"Expired API Key provided: {mask(key)}")
        return self.account(key)

    def fee(self, amount: int) -> int:
        return processing_fee(amount, self.fee_percent, self.fee_fixed)

    def record_request(self, method: str, path: str, idempotency_key: str | None) -> dict:
        """Kept among the last 50; the handler fills in account, params and status as it learns them."""
        record = {"method": method, "path": path, "idempotency_key": idempotency_key, "account": None,
                  "params": {}, "status": None}
        self.recent_requests.append(record)
        return record

    def emit(self, account: Account, kind: str, object_id: str, request: dict) -> None:
        """An event about the object as it is now, queued for each of the account's webhook endpoints."""
        made = account.add(event(kind, account.render(object_id), account.livemode, len(account.endpoints), request))
        payload = json.dumps(made).encode() if account.endpoints else b""
        for endpoint in account.endpoints:
            delivery = {"event": made["id"], "type": kind, "url": endpoint["url"], "status": None, "_event": made}
            account.deliveries.append(delivery)
            self.deliverer.send(self.generation, endpoint["secret"], payload, delivery)

    def _delivered(self, delivery: dict, status: int | None) -> None:
        with self.lock:
            delivery["status"] = status
            if status is not None and 200 <= status < 300:
                delivery["_event"]["pending_webhooks"] -= 1

    def with_card_number(self, reply: Reply) -> Reply:
        """The armed card number written into this answer (and each listed item), then disarmed."""
        number, self.card_number_next = self.card_number_next, None
        if number is None:
            return reply
        return reply._replace(payload=json.dumps(with_card_number(json.loads(reply.payload), number)).encode())

    def control(self, body: dict) -> None:
        """Applies a `POST /_control` body; a bad one raises ValueError before anything changes."""
        if unknown := sorted(set(body) - CONTROL_KEYS):
            raise ValueError(f"unknown control keys: {', '.join(unknown)}")
        reset = bool(body.get("reset"))
        revoked = body.get("revoked_keys", [])
        if not isinstance(revoked, list) or not all(isinstance(key, str) and key for key in revoked):
            raise ValueError("revoked_keys must be a list of secret keys")
        fee_percent = body.get("fee_percent", DEFAULT_FEE_PERCENT if reset else self.fee_percent)
        if isinstance(fee_percent, bool) or not isinstance(fee_percent, int | float) or not 0 <= fee_percent <= 100:
            raise ValueError("fee_percent must be a number from 0 to 100")
        fee_fixed = body.get("fee_fixed", DEFAULT_FEE_FIXED if reset else self.fee_fixed)
        if isinstance(fee_fixed, bool) or not isinstance(fee_fixed, int) or fee_fixed < 0:
            raise ValueError("fee_fixed must be a whole number of cents ≥ 0")
        card_number = body.get("card_number_in_next_answer")
        if card_number is not None and (
            not isinstance(card_number, str) or not card_number.isdecimal() or not card_number.isascii()
        ):
            raise ValueError("card_number_in_next_answer must be a string of digits")
        endpoints = parse_endpoints(body.get("webhook_endpoints") or {})
        fail = self.faults.parse(body)

        def taken(key: str, intent_id: str) -> bool:
            account = None if reset else self.accounts.get(digest(key))
            return account is not None and intent_id in account.objects

        charges = parse_charges(body.get("charges") or {}, valid_key, taken)
        payouts = parse_payouts(body.get("payouts") or {}, valid_key)

        if reset:
            self.reset()
        if "revoked_keys" in body:
            self.revoked = {digest(key) for key in revoked}
        self.fee_percent, self.fee_fixed = fee_percent, fee_fixed
        if "fail" in body:
            self.faults.scheduled = fail
        if card_number is not None:
            self.card_number_next = card_number
        for key, listed in endpoints.items():
            self.account(key).endpoints = [dict(endpoint) for endpoint in listed]
        for key, planted in charges.items():
            plant_charges(self, self.account(key), planted)
        for key, planned in payouts.items():
            make_payouts(self, self.account(key), planned)

    def snapshot(self) -> dict:
        """What `/_state` shows: counts and deliveries per account (by masked key), the last requests; no keys."""
        accounts = {}
        for account in self.accounts.values():
            name = account.masked
            while name in accounts:  # two keys with the same tail
                name += "+"
            accounts[name] = {
                **{kind + "s": account.count(kind) for kind in (
                    "payment_intent", "charge", "refund", "balance_transaction", "payout", "dispute", "event")},
                "posts_without_idempotency_key": account.posts_without_idempotency_key,
                "requests": account.requests,
                "idempotency_keys": len(account.idempotent),
                "webhook_endpoints": [endpoint["url"] for endpoint in account.endpoints],
                "webhook_deliveries": [
                    {field: value for field, value in delivery.items() if not field.startswith("_")}
                    for delivery in account.deliveries
                ],
            }
        return {
            "accounts": accounts,
            "posts_without_idempotency_key": sum(a.posts_without_idempotency_key for a in self.accounts.values()),
            "requests": sum(account.requests for account in self.accounts.values()),
            "unauthenticated_requests": self.unauthenticated_requests,
            "recent_requests": [dict(record) for record in self.recent_requests],
            "fee_percent": self.fee_percent,
            "fee_fixed": self.fee_fixed,
            "card_number_armed": self.card_number_next is not None,
        }
