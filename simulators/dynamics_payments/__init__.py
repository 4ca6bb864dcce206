"""A local fake of Dynamics Payments' card-token API, for the tests and `make run`.

Dynamics Payments publishes NO API documentation. This fake is built from the only public code, an UNOFFICIAL
C# client (`gfigueroa2016/PaymentGateway`, ~2020), and from engineering inference; treat every detail as provisional
until the processor gives its specification.

From the unofficial client: the path `/WebApi/APaymentTokenApi/<Operation>` (its test host); JSON bodies (GET with
a JSON body for GetTransactionByID, as the client sends it); the `SessionId`, `SiteId` and `MessageHash` headers with
`MessageHash = Base64(SHA256(UTF8(secret + siteId + sessionId + fields)))` and the fields of AuthorizeToken
(MerchantKey, AccountToken, Amount, Currency), MarkByID and VoidByID (MerchantKey, IDTransaction) and
GetTransactionByID (IDTransaction); the AuthorizeToken body (MerchantKey, AccountToken, Amount, Currency, Tax,
Invoice, Transaction_Detail, ReserveFunds); the answer fields of its fixtures (Account masked as "403178XXXXXX1617",
AccountToken, IDTransaction, BatchCode, AcquirerName "Bridge Pay", Status, CardHolderName, AuditNumber, ResponseCode
"00", DesicionResponseCode "100" — sic —, Message, AuthNumber, HostDate MMDD, HostTime HHmmss, Reference_Code) and
the statuses "Aprobada - Pendiente Marcar" and "Anulada - Pendiente Cierre". The fixtures' Message
"Success-Approved" and AuthNumber "OK9585" look like test-host values: this fake answers "APROBADA" and six digits.

Inferred: amounts as strings with two decimals; the operations RefundByID (only on a settled sale, into the open
batch), CloseBatch, GetSettledBatches and GetBatchTransactions (Authorize.Net's settled-batch-list /
transaction-list pattern) and their hashed fields (see `signing.HASHED_FIELDS`); the auth → mark → batch close
lifecycle (void only while the batch is open; statuses "Marcada - Pendiente Cierre", "Liquidada", "Reembolso -
Pendiente Cierre", "Reembolso Liquidado", "Anulada", "Declinada"); ReserveFunds false = a sale marked in one step; a
partial mark = a partial capture; fees 2.75 % + 0.10 per settled sale; deposit on the next weekday; the error
codes and statuses (see `replies`); answers' `Amount`, `AuthorizedAmount`, `CardBrand`, `Refunds` and
`OriginalIDTransaction`. RegisterToken and the other card-number operations are not served (404): the hub never
sends a card number.

Built-in demo site: SiteId "QIIUB-DEMO", SessionId "demo-session", secret "demo-secret", MerchantKey "MK-DEMO".
Card tokens: `tok_<visa|mastercard|amex|discover|ath>_<last4>` approve, `tok_declined_<last4>` declines (HTTP 200,
ResponseCode "05", DesicionResponseCode "200", Status "Declinada", Message "DECLINADA").

Steering (`POST /_control`): reset, fail {status 429/500/502/503, count, retry_after}, delay_s,
card_number_in_next_answer, sites [{site_id, session_id, secret, merchant_key}], tokens {token: {brand, last4,
declined}}, fee_percent, fee_fixed, close_batch {merchant_key, at}, settled_batches {merchant key: [{close_date,
deposit_date, items: […]}]}. `GET /_state` shows sites and merchants (keys masked), counts by status and the last 50
requests. `records` holds the data shapes, `state` the memory and the batch close, `controls` reads /_control,
`operations` the routes, `signing` the MessageHash, `replies` the answer shapes. Standard library only.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer

from simulators.base import serve
from simulators.dynamics_payments.handler import DynamicsPaymentsHandler
from simulators.dynamics_payments.signing import message_hash
from simulators.dynamics_payments.state import DEMO_SITE, DynamicsState

# `make run` serves this fake on PORT and points the hub's SERVES setting at it.
SERVES, PORT, NAME = "DYNAMICS_PAYMENTS_BASE_URL", 8774, "Dynamics Payments"

__all__ = ["DEMO_SITE", "NAME", "PORT", "SERVES", "make_server", "message_hash"]


def make_server(host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    return serve(DynamicsPaymentsHandler, DynamicsState(), host, port)
