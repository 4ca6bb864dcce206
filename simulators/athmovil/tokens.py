"""The `auth_token` a payment gets: JWT-shaped (base64url header.payload.signature, payload with `ecommerceId`
and `exp`) as the README shows, signed here with HMAC-SHA256 under a key that lives as long as the server, so that
a garbled or forged token is told apart from an expired one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime

from simulators.athmovil.replies import NO_HEADER, AthError

SCOPE = "customer.business.ecommerce.authorization:write"  # what the README's sample token carries


def _encode(part: bytes) -> str:
    return base64.urlsafe_b64encode(part).rstrip(b"=").decode()


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class TokenSigner:
    def __init__(self):
        self._key = secrets.token_bytes(32)

    def _sign(self, signing_input: str) -> str:
        return _encode(hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest())

    def issue(self, ecommerce_id: str, issued_at: float, expires_at: float) -> str:
        header = _encode(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
        claims = {
            "iss": "Process Payment",
            "ecommerceId": ecommerce_id,
            "scopes": [SCOPE],
            "iat": int(issued_at),
            "nbf": int(issued_at),
            "exp": int(expires_at),
        }
        payload = _encode(json.dumps(claims, separators=(",", ":")).encode())
        return f"{header}.{payload}.{self._sign(f'{header}.{payload}')}"

    def read(self, authorization: str | None, now: float, local_time) -> str:
        """The ecommerceId of a valid `Authorization: Bearer <auth_token>`; else the README's 401 token errors.
        `local_time(epoch)` gives the Puerto Rico time the expired message names."""
        if not authorization or not authorization.strip():
            raise AthError("token.invalid.header", NO_HEADER, 401)
        scheme, _, token = authorization.strip().partition(" ")
        parts = token.strip().split(".")
        if scheme.lower() != "bearer" or len(parts) != 3:
            raise AthError("token.invalid.header", "Invalid authorization header.", 401)
        if not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            raise AthError("token.invalid.header", "Invalid authorization header.", 401)
        try:
            claims = json.loads(_decode(parts[1]))
            ecommerce_id, expires_at = str(claims["ecommerceId"]), int(claims["exp"])
        except (ValueError, KeyError, TypeError):
            raise AthError("token.invalid.header", "Invalid authorization header.", 401) from None
        if now >= expires_at:
            when: datetime = local_time(expires_at)
            raise AthError("token.expired", f"The Token has expired on {when:%a %b %d %H:%M:%S} AST {when:%Y}.", 401)
        return ecommerce_id
