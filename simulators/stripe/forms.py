"""One request's parameters as Stripe reads them: form bodies (and query strings) with nested fields written
`metadata[key]=v` and arrays `expand[]=x`, and the checks Stripe makes on them: unknown parameters refused, integers
in minor units, enums, booleans written `true`/`false`, metadata limits (50 keys, keys ≤ 40, values ≤ 500 chars)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from simulators.stripe.errors import invalid, missing, unknown_parameter
from simulators.stripe.objects import CURRENCY

if TYPE_CHECKING:
    from simulators.stripe.ledger import Account
    from simulators.stripe.state import StripeState

NESTED = re.compile(r"([^\[\]]+)\[([^\[\]]*)\]")
METADATA_KEYS, METADATA_KEY_LENGTH, METADATA_VALUE_LENGTH = 50, 40, 500


def parse_pairs(text: bytes | str) -> list[tuple[str, str]]:
    """The name/value pairs of a form body or query string, in order."""
    try:
        decoded = text.decode() if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        raise invalid("The request body is not valid UTF-8.") from None
    return parse_qsl(decoded, keep_blank_values=True)


def nest(pairs: list[tuple[str, str]]) -> dict:
    """`a=1&metadata[k]=v&expand[]=x` → `{"a": "1", "metadata": {"k": "v"}, "expand": ["x"]}` (one level, as the
    routes here need); a name used both plainly and nested is refused."""
    params: dict = {}
    for name, value in pairs:
        match = NESTED.fullmatch(name)
        base, sub = match.groups() if match else (name, None)
        if sub is None:
            if isinstance(params.get(base), dict | list):
                raise invalid(f"Invalid {base}: it was given both as a value and as a hash or array", base)
            params[base] = value
            continue
        kind = list if sub == "" or sub.isdecimal() else dict
        container = params.setdefault(base, kind())
        if not isinstance(container, kind):
            raise invalid(f"Invalid {base}: it mixes a value, a hash and an array", base)
        if kind is list:
            container.append(value)
        else:
            container[sub] = value
    return params


@dataclass
class Call:
    """What a route works with: the fake's state and the caller's account (the lock is held), the parameters, and
    the request an event names as its cause."""

    state: StripeState
    account: Account
    params: dict
    request: dict  # {"id": "req_…", "idempotency_key": …}

    def allow(self, *names: str) -> None:
        for name in self.params:
            if name not in names and name != "expand":
                raise unknown_parameter(name)

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.params.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return None
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {name} must be a string", name)
        return value

    def positive_int(self, name: str, required: bool = False) -> int | None:
        value = self.text(name, required)
        if value is None:
            return None
        if not value.isdecimal() or not value.isascii():
            raise invalid(f"Invalid integer: {value}", name, "parameter_invalid_integer")
        if int(value) < 1:
            raise invalid("This value must be greater than or equal to 1.", name, "parameter_invalid_integer")
        return int(value)

    def choice(self, name: str, options: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.text(name)
        if value is None:
            return default
        if value not in options:
            raise invalid(f"Invalid {name}: must be one of {', '.join(options)}", name)
        return value

    def boolean(self, name: str) -> bool:
        value = self.text(name)
        if value not in (None, "true", "false"):
            raise invalid(f"Invalid boolean: {value}", name)
        return value == "true"

    def currency(self) -> str:
        value = self.text("currency", required=True).lower()
        if value != CURRENCY:
            raise invalid(f"Invalid currency: {value}. This account can only charge in {CURRENCY}.", "currency")
        return value

    def metadata(self) -> dict[str, str]:
        value = self.params.get("metadata", {})
        if value == "":  # `metadata=` clears it on Stripe; on a new object it is just empty
            return {}
        if not isinstance(value, dict):
            raise invalid("Invalid hash: metadata must be given as metadata[key]=value", "metadata")
        if len(value) > METADATA_KEYS:
            raise invalid(f"Invalid metadata: at most {METADATA_KEYS} keys", "metadata")
        for key, item in value.items():
            if len(key) > METADATA_KEY_LENGTH or len(item) > METADATA_VALUE_LENGTH:
                raise invalid(
                    f"Invalid metadata[{key}]: keys are at most {METADATA_KEY_LENGTH} characters and values at most "
                    f"{METADATA_VALUE_LENGTH}", f"metadata[{key}]"
                )
        return dict(value)

    def expansions(self) -> list[str]:
        value = self.params.get("expand", [])
        if not isinstance(value, list):
            raise invalid("Invalid array: expand must be given as expand[]=path", "expand")
        return value
