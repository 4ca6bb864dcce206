"""A local fake of ATH Móvil's Payment Button API (Evertec), for the tests and `make run`.

One server stands for both vendor hosts (payments.athmovil.com and the refund host): every route sits under
`/api/business-transaction/ecommerce/`. A business is a publicToken; its privateToken is bound on the first call
that carries one (refund, report) and any other privateToken is refused from then on.

Followed from the official README (`evertec/ATHM-Payment-Button-API`, v1.2): the routes (`POST /payment`,
`/authorization` with `Authorization: Bearer <auth_token>`, `/business/findPayment`, `/business/cancel`,
`PUT /business/updatePhoneNumber`, `POST /refund`); request fields and limits (total 1.00–1500.00, timeout 120–600 s
default 600, metadata1/metadata2 ≤ 40 characters and present, refund message ≤ 50); the statuses OPEN → CONFIRM →
COMPLETED, or CANCEL (cancelled or expired); the answer fields and their spelling (`subTotal` in a payment,
`subtotal` in a refund's `originalTransaction`, `dailyTransactionId` in a payment but `dailyTransactionID` in a
refund); `"Payment Cancelled."`, `"Update Phone Number"`; the error body `{status, message, errorcode, data: null}`
with `token.invalid.header` ("No authorization header present."), `token.expired` ("The Token has expired on …") and
the BTRA_ codes with their English texts (see `replies.ERRORS`).

Inferred (no public source says): HTTP 400 for business errors and 401 for token errors (the README shows bodies
only); an expired payment turns CANCEL when next read; a cancel of a cancelled payment answers success again; an
amount beyond what is left to refund is BTRA_0004 (the README has no code for it); `referenceNumber` is
`402-` + 8 digits (the README's are long hex strings: these never read as a card number); a refund's `date` is
"YYYY-MM-DD HH:MM:SS" Puerto Rico time (the README shows an opaque timestamp); `fee` = fee_percent (2.5 %) of the
total, rounded to the cent; netAmount = total − fee; the payer's name/phone/email are fixed fake values; the
updatePhoneNumber works only while OPEN and its Bearer token is checked only when sent. `POST /business/transactionReport` {publicToken,
privateToken, fromDate, toDate} (Puerto Rico times, both inclusive) is wholly inferred from ATH Business's
reports (transactionType ECOMMERCE for the button, PAYMENT for the app, REFUND with negative amounts). The README
lists BTRA_0046 for an empty date range; this fake answers an empty list instead.

Steering (`POST /_control`): reset, fail {status 429/500/502/503, count, retry_after}, delay_s,
card_number_in_next_answer, accounts [{public_token, private_token}], revoked_tokens [public tokens], auto_confirm
(default true: a new payment is CONFIRM at once), confirm [ecommerceId…], fee_percent, advance_s (moves the fake's
clock forward, for expiry), transactions {public token: [{transactionType, date, total, …}]} (planted completed
transactions). `GET /_state` shows counts per business (tokens masked), refunds with their messages and the last 50
requests. `state` holds the memory, `controls` reads /_control, `operations` the routes, `tokens` the auth_token,
`replies` the answer shapes. Standard library only.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.athmovil.handler import AthMovilHandler
from simulators.athmovil.state import AthMovilState
from simulators.base import serve

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "ATHMOVIL_BASE_URL", 8773, "ATH Móvil"

__all__ = ["NAME", "PORT", "SERVES", "make_server"]


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve(AthMovilHandler, AthMovilState(), host, port)
