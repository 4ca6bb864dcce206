"""Fault injection the vendor fakes share: error answers and slow answers a test asks for through `POST /_control`.

`{"fail": {"status": 503, "count": 2, "retry_after": 30}}` makes the next two vendor calls fail; `{"delay_s": 5}` makes
every vendor route answer five seconds late until told otherwise. When a failure is due is decided here; what it looks
like (the body, any header beyond Retry-After) stays the vendor's.
Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_DELAY_S = 60  # the longest answer delay `/_control` takes


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Failure:
    """A scheduled run of error answers: the next `count` vendor calls (after `after` normal ones) fail."""

    status: int
    count: int = 1
    retry_after: float | None = None  # seconds, sent as Retry-After; None sends no header
    after: int = 0  # calls answered normally first (a failure on a later page)
    options: dict[str, str] = field(default_factory=dict)  # the vendor's own knobs (Xero's rate-limit problem)

    def retry_after_headers(self, *, whole_seconds: bool = True) -> dict[str, str]:
        """Retry-After as the vendor writes it: whole seconds rounded up ("30"), or else a float ("2.0")."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(math.ceil(self.retry_after) if whole_seconds else float(self.retry_after))}


class Faults:
    """What failures a fake can be told to answer with, and the one scheduled now (cleared on reset)."""

    def __init__(
        self,
        statuses: tuple[int, ...],
        *,
        retry_after: bool = True,
        after: bool = False,
        options: dict[str, tuple[str, ...]] | None = None,
    ):
        self.statuses = statuses
        self.takes_retry_after = retry_after  # whether `fail.retry_after` is read
        self.takes_after = after  # whether `fail.after` is read
        self.options = options or {}  # a vendor's own `fail.<option>` → its values, the first being the default
        self.scheduled: Failure | None = None

    def parse(self, body: dict) -> Failure | None:
        """The failure a `/_control` body's `fail` schedules (None clears it); ValueError when it is malformed."""
        fail = body.get("fail")
        if fail is None:
            return None
        if not isinstance(fail, dict) or fail.get("status") not in self.statuses:
            raise ValueError(f"fail.status must be one of {', '.join(map(str, self.statuses))}")
        count = fail.get("count", 1)
        if not _is_count(count) or count < 1:
            raise ValueError("fail.count must be a positive integer")
        retry_after = fail.get("retry_after") if self.takes_retry_after else None
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, int | float) or retry_after < 0
        ):
            raise ValueError("fail.retry_after must be a number of seconds or null")
        after = fail.get("after", 0) if self.takes_after else 0
        if not _is_count(after) or after < 0:
            raise ValueError("fail.after must be an integer ≥ 0")
        options = {name: fail.get(name, values[0]) for name, values in self.options.items()}
        for name, values in self.options.items():
            if options[name] not in values:
                raise ValueError(f"fail.{name} must be one of {', '.join(values)}")
        return Failure(fail["status"], count, retry_after, after, options)

    def due(self) -> Failure | None:
        """The failure this vendor call answers with, if one is due; asking counts the call."""
        fail = self.scheduled
        if fail is None:
            return None
        if fail.after:
            fail.after -= 1
            return None
        fail.count -= 1
        if fail.count <= 0:
            self.scheduled = None
        return fail


def parse_delay(body: dict) -> float | None:
    """Takes `delay_s` out of a `/_control` body: how late every vendor route answers from now on (0 again on reset),
    or None to leave it; ValueError when it is not a number of seconds from 0 to MAX_DELAY_S."""
    delay = body.pop("delay_s", 0 if body.get("reset") else None)
    if delay is not None and (
        isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_S
    ):
        raise ValueError(f"delay_s must be a number of seconds from 0 to {MAX_DELAY_S}")
    return delay


def with_card_number(body, digits: str):
    """The answer with a PAN planted (`card_number_in_next_answer`, to test that a client refuses an answer
    carrying one): at the top of an object, and in each item of a list answer or of its `data` list."""
    if isinstance(body, list):
        return [{**item, "card_number": digits} if isinstance(item, dict) else item for item in body]
    if isinstance(body, dict):
        body = {**body, "card_number": digits}
        if isinstance(body.get("data"), list):
            body["data"] = with_card_number(body["data"], digits)
    return body
