"""One Stripe account of the fake (one secret key): its objects by id, each kind kept sorted by (created, id) so a
window of 100 out of 50,000 balance transactions is found by bisection, what is not yet paid out, what each payout
paid, the stored answers of its idempotency keys, its webhook endpoints and deliveries, and its request counters."""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

from simulators.base import Reply
from simulators.stripe.objects import now

Key = tuple[int, str]  # (created, id): the order every list is kept in, ascending; lists answer newest first


@dataclass
class Stored:
    """The first answer to an idempotency key, and what it was asked with."""

    fingerprint: str
    reply: Reply


@dataclass(eq=False)
class Account:
    masked: str  # sk_test_****1234: all that is ever shown of the key
    livemode: bool
    objects: dict[str, dict] = field(default_factory=dict)
    index: defaultdict[str, list[Key]] = field(default_factory=lambda: defaultdict(list))  # object kind → keys
    unpaid: list[Key] = field(default_factory=list)  # balance transactions no payout has paid yet
    paid_by: dict[str, list[Key]] = field(default_factory=dict)  # payout id → the transactions it paid
    idempotent: dict[str, Stored] = field(default_factory=dict)
    endpoints: list[dict] = field(default_factory=list)  # [{"url", "secret"}]
    deliveries: list[dict] = field(default_factory=list)
    requests: int = 0
    posts_without_idempotency_key: int = 0

    def add(self, obj: dict, *, payable: bool = False) -> dict:
        """Keeps a new object; a payable balance transaction waits for the next payout."""
        self.objects[obj["id"]] = obj
        key = (obj["created"], obj["id"])
        bisect.insort(self.index[obj["object"]], key)
        if payable:
            bisect.insort(self.unpaid, key)
        return obj

    def add_many(self, objects: list[dict], payable: list[dict]) -> None:
        """`add` for thousands at once: appended, then each list sorted once (timsort on runs is near linear)."""
        grown: set[str] = set()
        for obj in objects:
            self.objects[obj["id"]] = obj
            self.index[obj["object"]].append((obj["created"], obj["id"]))
            grown.add(obj["object"])
        for kind in grown:
            self.index[kind].sort()
        if payable:
            self.unpaid.extend((obj["created"], obj["id"]) for obj in payable)
            self.unpaid.sort()

    def get(self, object_id: str, kind: str) -> dict | None:
        obj = self.objects.get(object_id)
        return obj if obj is not None and obj["object"] == kind else None

    def render(self, object_id: str) -> dict:
        """A copy to answer with; a balance transaction's status says whether its funds are available yet."""
        obj = dict(self.objects[object_id])
        if obj["object"] == "balance_transaction":
            obj["status"] = "available" if obj["available_on"] <= now() else "pending"
        return obj

    def take_unpaid(self, created_lte: int) -> list[Key]:
        """The transactions a payout made now pays: every unpaid one created at or before `created_lte`."""
        end = bisect.bisect_left(self.unpaid, (created_lte + 1, ""))
        taken, self.unpaid = self.unpaid[:end], self.unpaid[end:]
        return taken

    def count(self, kind: str) -> int:
        return len(self.index[kind])
