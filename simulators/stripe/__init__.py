"""A local fake of the Stripe API (payments and reconciliation), for the tests and `make run`.

What vendors-wave2.md §2.2 says it follows: `Authorization: Bearer <secret key>`, each key its own account (made on
first use of a key like `sk_test_…`; 401 `Invalid API Key provided: sk_test_****1234` otherwise, `Expired API Key…`
for revoked keys); v1 POST bodies form-encoded (`metadata[k]=v`, `expand[]=x`), amounts in cents, `usd` only;
`Request-Id: req_…` on every answer; `Idempotency-Key` (≤ 255) replays of the first answer with
`Idempotent-Replayed: true`, reuse with other parameters → 400 `idempotency_error`; the `{"error": {…}}` envelope
with 400/401/402/404 and injected 409 `lock_timeout` (`Stripe-Should-Retry: true`), 429 `rate_limit`
(`Retry-After`), 500 `api_error` (stored for its key, `Stripe-Should-Retry: false`), 502, 503; PaymentIntents
(create/confirm with test methods, manual capture, partial capture, cancel), refunds, charges, balance transactions
(fees, windows, `payout=`, `expand[]=data.source`, cursors), payouts, disputes; events signed to webhook endpoints.

Validation errors and injected 409/429/502/503 are not stored for an idempotency key; a declined card (402) and
every other answer of a request that ran are. [inf] Failures are injected in front of the idempotency layer (a
scheduled failure answers even a replay). A missing key gets Stripe's "You did not provide an API key" message.

Steering, `POST /_control` (see `state.control`): `reset`, `fail`, `delay_s`, `revoked_keys`, `fee_percent`,
`fee_fixed`, `webhook_endpoints`, `charges` and `payouts` (planted for reconciliation, see `planting`),
`card_number_in_next_answer`. `GET /_state`: counts per account (masked key), webhook deliveries, the last 50
requests. Modules: `state` (memory and steering), `handler` (HTTP, auth, idempotency, routes), `payments` (intents and
refunds), `listing` (retrieve, lists, expand), `ledger` (an account), `objects` (Stripe's shapes), `planting`,
`webhooks` (`signature_header`, deliveries), `forms` (parameters), `errors`.
Standard library only.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.base import serve
from simulators.stripe.handler import StripeHandler
from simulators.stripe.state import StripeState

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "STRIPE_BASE_URL", 8772, "Stripe"

__all__ = ["NAME", "PORT", "SERVES", "make_server"]


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve(StripeHandler, StripeState(), host, port)
