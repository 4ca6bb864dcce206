"""How Dynamics Payments signs a request, as the unofficial client `gfigueroa2016/PaymentGateway` computes it:
`MessageHash = Base64(SHA256(UTF8(secret + siteId + sessionId + <the operation's fields, concatenated as sent>)))`,
sent with the `SessionId` and `SiteId` headers. Which fields each operation hashes: the client's for AuthorizeToken,
MarkByID, VoidByID and GetTransactionByID; inferred in the same way for the operations this fake adds."""

from __future__ import annotations

import base64
import hashlib

HASHED_FIELDS: dict[str, tuple[str, ...]] = {
    "AuthorizeToken": ("MerchantKey", "AccountToken", "Amount", "Currency"),  # client
    "MarkByID": ("MerchantKey", "IDTransaction"),  # client
    "VoidByID": ("MerchantKey", "IDTransaction"),  # client
    "GetTransactionByID": ("IDTransaction",),  # client
    "RefundByID": ("MerchantKey", "IDTransaction", "Amount"),  # inferred
    "CloseBatch": ("MerchantKey",),  # inferred
    "GetSettledBatches": ("MerchantKey", "FromDate", "ToDate"),  # inferred
    "GetBatchTransactions": ("MerchantKey", "BatchCode"),  # inferred
}


def message_hash(secret: str, site_id: str, session_id: str, *fields: str) -> str:
    """The `MessageHash` header for a request whose hashed fields are `fields`, in the operation's order."""
    digest = hashlib.sha256("".join((secret, site_id, session_id, *fields)).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")
