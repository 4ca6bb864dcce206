"""Reading what an account holds: retrieving one object, and the lists (balance transactions, payouts, refunds,
events) as Stripe pages them: newest first (created, then id), `limit` 1–100 (default 10), `starting_after` /
`ending_before` cursors, `created[gt|gte|lt|lte]` windows (unix seconds, a plain `created=` is exact), the list
envelope `{object: "list", data, has_more, url}`, and `expand[]` (`data.source`, `latest_charge`, …: an id becomes
its object). Windows and cursors are bisections of the account's sorted keys, so a page costs its size."""

from __future__ import annotations

import bisect
from collections.abc import Callable

from simulators.base import Reply, json_reply
from simulators.stripe.errors import invalid, no_such
from simulators.stripe.forms import Call
from simulators.stripe.ledger import Key

RANGE_OPERATORS = ("gt", "gte", "lt", "lte")
PAGING = ("limit", "starting_after", "ending_before")
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
LATEST = 2**62  # above any unix time


def integer(value, param: str) -> int:
    if not isinstance(value, str) or not value.lstrip("-").isdecimal() or not value.isascii():
        raise invalid(f"Invalid integer: {value}", param, "parameter_invalid_integer")
    return int(value)


def bounds(call: Call, name: str) -> tuple[int, int]:
    """`name[gte]=…&name[lt]=…` (or `name=…`) as an inclusive (lowest, highest) pair."""
    value = call.params.get(name)
    if value is None:
        return -LATEST, LATEST
    if isinstance(value, str):
        exact = integer(value, name)
        return exact, exact
    if not isinstance(value, dict):
        raise invalid(f"Invalid {name}: give {name}[gte], {name}[lte], {name}[gt] or {name}[lt]", name)
    low, high = -LATEST, LATEST
    for operator, text in value.items():
        if operator not in RANGE_OPERATORS:
            raise invalid(f"Received unknown parameter: {name}[{operator}]", f"{name}[{operator}]", "parameter_unknown")
        number = integer(text, f"{name}[{operator}]")
        if operator in ("gt", "gte"):
            low = max(low, number + (operator == "gt"))
        else:
            high = min(high, number - (operator == "lt"))
    return low, high


def expand(call: Call, obj: dict, path: str) -> None:
    """Replaces the id at `path` (dotted; `data.` walks a list's items) with a copy of its object."""
    head, _, rest = path.partition(".")
    if head == "data" and obj.get("object") == "list" and rest:
        for item in obj["data"]:
            expand(call, item, rest)
        return
    value = obj.get(head)
    if isinstance(value, str) and value in call.account.objects:
        obj[head] = value = call.account.render(value)
    elif value is None and head in obj:
        return  # nothing there to expand: stays null, as on Stripe
    elif not isinstance(value, dict):
        raise invalid(f"This property cannot be expanded ({path}).", "expand")
    if rest:
        expand(call, value, rest)


def answer(call: Call, body: dict) -> Reply:
    for path in call.expansions():
        expand(call, body, path)
    return json_reply(200, body)


def retrieve(kind: str, call: Call, object_id: str) -> Reply:
    call.allow()
    if call.account.get(object_id, kind) is None:
        raise no_such(kind, object_id)
    return answer(call, call.account.render(object_id))


def page(
    call: Call,
    kind: str,
    keys: list[Key],
    url: str,
    filters: tuple[str, ...] = (),
    keep: Callable[[dict], bool] | None = None,
) -> Reply:
    """A page of `keys` (ascending) newest first, within `created`, past the cursor, passing `keep`."""
    call.allow(*PAGING, "created", *filters)
    limit = integer(call.params.get("limit", str(DEFAULT_LIMIT)), "limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"Invalid limit: must be between 1 and {MAX_LIMIT} (it is {limit})", "limit")
    low, high = bounds(call, "created")
    start, end = bisect.bisect_left(keys, (low, "")), bisect.bisect_left(keys, (high + 1, ""))
    after, before = call.text("starting_after"), call.text("ending_before")
    if after and before:
        raise invalid("You may only specify one of these parameters: starting_after, ending_before.", "ending_before")
    objects, found = call.account.objects, []
    if before:
        start = max(start, bisect.bisect_right(keys, cursor(call, kind, before, "ending_before")))
        position = start
        while position < end and len(found) <= limit:  # oldest first from the cursor, turned round below
            if keep is None or keep(objects[keys[position][1]]):
                found.append(keys[position][1])
            position += 1
        has_more, chosen = len(found) > limit, found[:limit][::-1]
    else:
        if after:
            end = min(end, bisect.bisect_left(keys, cursor(call, kind, after, "starting_after")))
        position = end - 1
        while position >= start and len(found) <= limit:
            if keep is None or keep(objects[keys[position][1]]):
                found.append(keys[position][1])
            position -= 1
        has_more, chosen = len(found) > limit, found[:limit]
    data = [call.account.render(object_id) for object_id in chosen]
    return answer(call, {"object": "list", "data": data, "has_more": has_more, "url": url})


def cursor(call: Call, kind: str, object_id: str, param: str) -> Key:
    obj = call.account.get(object_id, kind)
    if obj is None:
        raise no_such(kind, object_id, param)
    return obj["created"], object_id


def equal(call: Call, name: str) -> Callable[[dict], bool] | None:
    """A filter keeping the objects whose `name` is the given value; None when not asked."""
    wanted = call.text(name)
    return None if wanted is None else (lambda obj: obj.get(name) == wanted)


def all_of(*tests: Callable[[dict], bool] | None) -> Callable[[dict], bool] | None:
    chosen = [test for test in tests if test is not None]
    if not chosen:
        return None
    return lambda obj: all(test(obj) for test in chosen)


def balance_transactions(call: Call) -> Reply:
    """`payout=po_…` pages what that payout paid (not its own transaction); `type`, `source`, `currency` filter."""
    keys = call.account.index["balance_transaction"]
    payout_id = call.text("payout")
    if payout_id is not None:
        if call.account.get(payout_id, "payout") is None:
            raise no_such("payout", payout_id, "payout")
        keys = call.account.paid_by.get(payout_id, [])
    keep = all_of(equal(call, "type"), equal(call, "source"), equal(call, "currency"))
    filters = ("payout", "type", "source", "currency")
    return page(call, "balance_transaction", keys, "/v1/balance_transactions", filters, keep)


def payouts(call: Call) -> Reply:
    low, high = bounds(call, "arrival_date")
    arrival = None if (low, high) == (-LATEST, LATEST) else (lambda obj: low <= obj["arrival_date"] <= high)
    keep = all_of(arrival, equal(call, "status"))
    return page(call, "payout", call.account.index["payout"], "/v1/payouts", ("arrival_date", "status"), keep)


def refunds(call: Call) -> Reply:
    keep = all_of(equal(call, "payment_intent"), equal(call, "charge"))
    return page(call, "refund", call.account.index["refund"], "/v1/refunds", ("payment_intent", "charge"), keep)


def events(call: Call) -> Reply:
    """`type=charge.refunded`, or `type=charge.*` for a family, as Stripe takes it."""
    wanted = call.text("type")
    keep = None
    if wanted is not None:
        family = wanted[:-1] if wanted.endswith(".*") else None
        keep = (lambda obj: obj["type"].startswith(family)) if family else (lambda obj: obj["type"] == wanted)
    return page(call, "event", call.account.index["event"], "/v1/events", ("type",), keep)
