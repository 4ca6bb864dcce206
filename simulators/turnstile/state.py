"""What the Turnstile fake remembers: the tokens it issued (spent or not) and what siteverify was asked."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from simulators.base import mask
from simulators.faults import Faults

DEMO_SITE_KEY = "0x4AAAAAAAQiiubDemoSiteKey"
DEMO_SECRET_KEY = "0x4AAAAAAAQiiubDemoSecretKey-not-for-production"
# Cloudflare's test secret keys and the one answer each always gives (None: success).
TEST_SECRETS = {
    "1x0000000000000000000000000000000AA": None,
    "2x0000000000000000000000000000000AA": "invalid-input-response",
    "3x0000000000000000000000000000000AA": "timeout-or-duplicate",
}
TOKEN_TTL_S = 300  # Cloudflare: a token is valid for 300 seconds
MAX_TOKEN_LENGTH = 2048
CONTROL_KEYS = frozenset(("reset", "fail"))


@dataclass
class Issued:
    action: str
    hostname: str
    issued_at: float
    spent: bool = False


class TurnstileState:
    def __init__(self, site_key: str, secret_key: str):
        self.lock = threading.Lock()
        self.site_key, self.secret_key = site_key, secret_key
        self.faults = Faults((500, 502, 503), retry_after=False)
        self.reset()

    def reset(self) -> None:
        self.tokens: dict[str, Issued] = {}
        self.verifications: deque[dict] = deque(maxlen=50)
        self.faults.scheduled = None

    def issue(self, *, action: str, hostname: str) -> str:
        token = f"0.{secrets.token_urlsafe(96)}"
        self.tokens[token] = Issued(action=action, hostname=hostname, issued_at=time.monotonic())
        return token

    def verify(self, *, secret: str, token: str, remoteip: str) -> dict:
        """siteverify's answer; a token of this fake is spent by its first verification, good or bad."""
        answer = self._answer(secret, token)
        self.verifications.append({"secret": mask(secret), "remoteip": remoteip, "success": answer["success"],
                                   "error_codes": answer["error-codes"], "action": answer.get("action")})
        return answer

    def _answer(self, secret: str, token: str) -> dict:
        if not secret:
            return _failure("missing-input-secret")
        if secret in TEST_SECRETS:
            if not token:
                return _failure("missing-input-response")
            error = TEST_SECRETS[secret]
            return _failure(error) if error else _success("example.com", "")
        if secret != self.secret_key:
            return _failure("invalid-input-secret")
        if not token:
            return _failure("missing-input-response")
        issued = self.tokens.get(token) if len(token) <= MAX_TOKEN_LENGTH else None
        if issued is None:
            return _failure("invalid-input-response")
        if issued.spent or time.monotonic() - issued.issued_at > TOKEN_TTL_S:
            return _failure("timeout-or-duplicate")
        issued.spent = True
        return _success(issued.hostname, issued.action)

    def control(self, body: dict) -> None:
        if unknown := set(body) - CONTROL_KEYS:
            raise ValueError(f"unknown control keys: {', '.join(sorted(unknown))}")
        fail = self.faults.parse(body)
        if body.get("reset"):
            self.reset()
        if fail is not None:
            self.faults.scheduled = fail

    def snapshot(self) -> dict:
        return {"issued": len(self.tokens), "verifications": list(self.verifications)}


def _success(hostname: str, action: str) -> dict:
    return {"success": True, "challenge_ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "hostname": hostname, "action": action, "cdata": "", "error-codes": [],
            "metadata": {"ephemeral_id": f"x:{secrets.token_hex(10)}"}}


def _failure(code: str) -> dict:
    return {"success": False, "error-codes": [code], "messages": []}
