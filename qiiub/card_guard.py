"""The one card-number guard that every inbound path calls.

A value is refused when it holds a card number: a run of 13–19 digits that passes Luhn *and* falls
in an issued card-brand range at a length that brand uses, alone or inside a longer string, written
unbroken or in groups of any sizes split by common separators (spaces, tabs, line breaks, dashes,
dots, slashes, underscores; up to three in a row). Digits of other scripts count as digits.
The brand check is what keeps real POS data (GTIN/EAN barcodes, NDC codes, phone numbers,
references) from being refused: about one in ten barcodes passes Luhn by chance, but few also sit in
a brand range at a brand length. A field whose name says CVV, PIN block or track data is refused
whatever it holds. Masked values (BIN + last 4 with X or * in between) and last-4 values are fine.
The rule, its corpora and their rates: docs/decisions/0024-card-guard-any-grouping-and-discovery.md.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from qiiub.errors import CardDataRejected

# What people and programs put between the digit groups of a card number: whitespace (line breaks
# included), the dashes, dots, slashes and underscores, and their full-width forms.
_SEPARATOR = r"[\s\-./_\u2010-\u2015\u2212\uff0d\uff0e\uff0f\uff3f]"
# A run of digit groups joined by up to three separators: a card is looked for among its groups.
_DIGIT_RUN = re.compile(rf"[0-9]+(?:{_SEPARATOR}{{1,3}}[0-9]+)*")
_DIGIT_GROUP = re.compile(r"[0-9]+")
# Most values (amounts, codes, names, timestamps) never hold 13 digits in a run: one search rules
# them out before the detailed check (\d: the digits of every script).
_THIRTEEN_DIGITS = re.compile(rf"(?:\d{_SEPARATOR}{{0,3}}){{12}}\d")
_NON_ASCII_DIGIT = re.compile(r"(?![0-9])\d")
# Fields that declare a product barcode: there, a GTIN with a valid GS1 check digit is a barcode.
_BARCODE_FIELD = re.compile(r"(^|[_\-. ])(barcode|gtin|upc|ean|sku|plu)s?($|[_\-. ])", re.IGNORECASE)
GTIN_LENGTHS = (8, 12, 13, 14)
# Identifiers a system writes, removed before the search: a UUID's dash-separated groups can be all
# digits and line up as a card number by chance, and Shopify's ids are 13–14 digits
# ("gid://shopify/Product/4567890123456").
_SYSTEM_ID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b|gid://[\w-]+/\w+/[0-9]{1,14}\b"
)
# A JSON integer of at most 14 digits under an id key ("id", "product_id", "variantId") is a record id
# a system assigned (Shopify's are 13–14 digits), not a 13-digit Visa or 14-digit Diners card.
_ID_KEY = re.compile(r"(^|[_\-. ])(id|Id|ID)$|[a-z0-9](Id|ID)$")
_LARGEST_RECORD_ID = 10**14 - 1
_SENSITIVE_FIELD = re.compile(
    r"(^|[_\-. ])(cvv2?|cvc2?|cid|csc|pin[_\-. ]?block|pinblock|track[_\-. ]?[12]?[_\-. ]?data|track[12])($|[_\-. ])",
    re.IGNORECASE,
)
MASK = "X"

# (prefix range low, high, allowed lengths): issued IIN ranges of the payment networks.
_BRAND_RANGES: list[tuple[int, int, tuple[int, ...]]] = [
    (4, 4, (13, 16, 19)),  # Visa
    (51, 55, (16,)),  # Mastercard
    (2221, 2720, (16,)),  # Mastercard 2-series
    (34, 34, (15,)),  # American Express
    (37, 37, (15,)),  # American Express
    (6011, 6011, (16, 17, 18, 19)),  # Discover
    (644, 649, (16, 17, 18, 19)),  # Discover
    (65, 65, (16, 17, 18, 19)),  # Discover, RuPay, Troy
    (3528, 3589, (16, 17, 18, 19)),  # JCB
    (300, 305, (14, 15, 16, 17, 18, 19)),  # Diners Club
    (36, 36, (14, 15, 16, 17, 18, 19)),  # Diners Club International
    (38, 39, (16, 17, 18, 19)),  # Diners Club
    (62, 62, (16, 17, 18, 19)),  # UnionPay
    (50, 50, (16, 17, 18, 19)),  # Maestro, Verve, Dankort
    (56, 58, (16, 17, 18, 19)),  # Maestro
    (6304, 6304, (16, 17, 18, 19)),  # Maestro
    (67, 67, (16, 17, 18, 19)),  # Maestro
    (60, 60, (16, 17, 18, 19)),  # RuPay
    (81, 82, (16,)),  # RuPay
    (636, 639, (16, 17, 18, 19)),  # InterPayment, InstaPayment
    (9792, 9792, (16,)),  # Troy
    (2200, 2205, (16, 17, 18, 19)),  # Mir, BORICA
]


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _four_digit_prefixes() -> dict[int, frozenset[str]]:
    """The ranges as sets of 4-digit prefixes per card length: one lookup instead of a loop."""
    prefixes: dict[int, set[str]] = {}
    for low, high, lengths in _BRAND_RANGES:
        width = len(str(low))
        for prefix in range(low, high + 1):
            for rest in range(10 ** (4 - width)):
                text = f"{prefix}{rest:0{4 - width}d}" if width < 4 else str(prefix)
                for length in lengths:
                    prefixes.setdefault(length, set()).add(text)
    return {length: frozenset(texts) for length, texts in prefixes.items()}


_PREFIXES_BY_LENGTH = _four_digit_prefixes()
_NO_PREFIXES: frozenset[str] = frozenset()


def is_card_number(digits: str) -> bool:
    return digits[:4] in _PREFIXES_BY_LENGTH.get(len(digits), _NO_PREFIXES) and luhn_valid(digits)


def _ascii_digits(text: str) -> str:
    """The text with digits of other scripts ("４１１１", "٤١١١") as ASCII, one character for one."""
    if text.isascii():
        return text
    return _NON_ASCII_DIGIT.sub(lambda match: str(unicodedata.decimal(match.group())), text)


def card_number_spans(text: str) -> Iterator[tuple[int, int]]:
    """The (start, end) of each card number in `text`, separators inside it included.

    Within a run of digit groups, every sequence of consecutive groups is a candidate, whatever the
    group sizes ("620578 3086271497092", Amex 4-6-5, "Tx 2024 4111 1111 1111 1111"). Overlapping
    candidates make one span, so masking it hides every card in it (in "30 4111 1111 1111 1111" a
    chance 14-digit Diners overlaps the 16-digit Visa). An unbroken group is never sliced: a long
    reference holds no card by chance.
    """
    if not _may_hold_card(text):
        return
    for run_start, groups in _digit_runs(text):
        span = None
        for first in range(len(groups)):
            last = _longest_card_from(groups, first)
            if last is None:
                continue
            if span and first <= span[1]:
                span = (span[0], max(span[1], last))
                continue
            if span:
                yield run_start + groups[span[0]][0], run_start + groups[span[1]][1]
            span = (first, last)
        if span:
            yield run_start + groups[span[0]][0], run_start + groups[span[1]][1]


def text_contains_card_number(text: str) -> bool:
    if not _may_hold_card(text):
        return False
    return any(_longest_card_from(groups, first) is not None
               for _, groups in _digit_runs(text) for first in range(len(groups)))


def _may_hold_card(text: str) -> bool:
    # Most values (amounts, codes, names, timestamps) never hold 13 digits in a run.
    return len(text) >= 13 and _THIRTEEN_DIGITS.search(text) is not None


def _hidden(match: re.Match) -> str:
    return "#" * len(match.group())


def _digit_runs(text: str) -> Iterator[tuple[int, list[tuple[int, int, str]]]]:
    """Each run's start and its digit groups (start and end within the run, digits), system ids hidden."""
    text = _ascii_digits(text)
    if _SYSTEM_ID.search(text):
        text = _SYSTEM_ID.sub(_hidden, text)
    for run in _DIGIT_RUN.finditer(text):
        yield run.start(), [(group.start(), group.end(), group.group()) for group in _DIGIT_GROUP.finditer(run.group())]


def _longest_card_from(groups: list[tuple[int, int, str]], first: int) -> int | None:
    """The last group of the longest card that starts at group `first` (a 19-digit card can start
    with a 16-digit one), or None."""
    digits, found = "", None
    for last in range(first, len(groups)):
        digits += groups[last][2]
        if len(digits) > 19:
            break
        if len(digits) >= 13 and is_card_number(digits):
            found = last
    return found


def _digits_of(text: str) -> str:
    return "".join(char for char in _ascii_digits(text) if char.isdigit())


@dataclass(frozen=True)
class CardHit:
    """A card number found in a value: where, and its digits (kept from every repr and log)."""

    path: str
    digits: str = field(repr=False)

    @property
    def shown(self) -> str:
        """What may be shown of it: the first 6 and last 4 digits ("411111…1111")."""
        return f"{self.digits[:6]}…{self.digits[-4:]}"


def mask_card_numbers(text: str, only: set[str] | None = None) -> str:
    """The text with each card number's digits between its first 6 and last 4 replaced by X
    (or only the card numbers whose digits are in `only`); everything else unchanged."""
    chars = None
    for start, end in card_number_spans(text):
        if only is not None and _digits_of(text[start:end]) not in only:
            continue
        chars = chars or list(text)
        positions = [index for index in range(start, end) if chars[index].isdecimal()]
        for index in positions[6:-4]:
            chars[index] = MASK
    return text if chars is None else "".join(chars)


def gs1_check_digit_valid(digits: str) -> bool:
    """GS1's mod-10 (weights 3 and 1 from the right, check digit excluded): UPC, EAN, GTIN."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _is_barcode(value: Any) -> bool:
    text = str(value)
    return text.isdigit() and len(text) in GTIN_LENGTHS and gs1_check_digit_valid(text)


# What a field's name says about its value (plain ints: compared once per field of every payload).
PLAIN_FIELD = 0
REFUSED_FIELD = 1  # named like CVV, PIN block or track data, or a card number itself
BARCODE_FIELD = 2  # declares a product barcode
RECORD_ID_FIELD = 3  # names a record id


@lru_cache(maxsize=4096)
def _field_rule(key: str) -> int:
    # Keys repeat across records ("amount", "tenders"…): each distinct one is looked at once.
    if _SENSITIVE_FIELD.search(key) or text_contains_card_number(key):
        return REFUSED_FIELD
    if _BARCODE_FIELD.search(key):
        return BARCODE_FIELD
    return RECORD_ID_FIELD if _ID_KEY.search(key) else PLAIN_FIELD


def _exempt(rule: int, item: Any) -> bool:
    """A value its field's name says is not card data: a valid GTIN in a declared barcode field (a
    GTIN-14 can look like a 14-digit Diners card; its own check digit says otherwise), or a record id
    a system assigned."""
    if rule == BARCODE_FIELD:
        return _is_barcode(item)
    return rule == RECORD_ID_FIELD and type(item) is int and 0 <= item <= _LARGEST_RECORD_ID


def _number_text(value: int | float | Decimal) -> str:
    # A JSON number can carry a card too: 4111111111111111, or 4111111111111111.0 (read as 4.111…e+15).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _card_data_at(value: Any) -> list | None:
    """The path (keys and indexes) to the first card data inside `value`, [] for `value` itself,
    or None. Paths are built only for a hit: this runs over every inbound payload."""
    if isinstance(value, str):
        return [] if text_contains_card_number(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            rule = _field_rule(name)
            if rule == REFUSED_FIELD:
                return [name]
            if rule != PLAIN_FIELD and _exempt(rule, item):
                continue
            if (inner := _card_data_at(item)) is not None:
                return [name, *inner]
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if (inner := _card_data_at(item)) is not None:
                return [index, *inner]
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return [] if text_contains_card_number(_number_text(value)) else None
    return None


def _joined(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    if text_contains_card_number(part):
        part = "[card number]"  # a card number used as a key is not repeated in the path
    return f"{path}.{part}" if path else part


def redact_card_data(value: Any, field_name: str = "") -> tuple[Any, list[CardHit]]:
    """A copy of a JSON value with every card number masked (first 6 and last 4 kept), by the guard's
    card-number rule and its field rules (fields named like CVV are the guard's alone), and each card
    number found (paths inside the value). `field_name` is the name
    the value is stored under, for the guard's field rules (a barcode column, an id)."""
    hits: list[CardHit] = []
    if field_name and _exempt(_field_rule(field_name), value):
        return value, hits

    def masked_text(text: str, where: str) -> str | None:
        spans = list(card_number_spans(text))
        hits.extend(CardHit(where, _digits_of(text[start:end])) for start, end in spans)
        return mask_card_numbers(text) if spans else None

    def walk(item: Any, where: str) -> Any:
        if isinstance(item, str):
            return masked_text(item, where) or item
        if isinstance(item, dict):
            result = {}
            for key, inner in item.items():
                name = str(key)
                key_masked = masked_text(name, _joined(where, name)) if isinstance(key, str) else None
                exempt = _exempt(_field_rule(name), inner)
                result[key_masked or key] = inner if exempt else walk(inner, _joined(where, name))
            return result
        if isinstance(item, (list, tuple)):
            return [walk(inner, _joined(where, index)) for index, inner in enumerate(item)]
        if isinstance(item, (int, float, Decimal)) and not isinstance(item, bool):
            return masked_text(_number_text(item), where) or item
        return item

    return walk(value, ""), hits


def find_card_data(payload: Any, path: str = "") -> str | None:
    """Return the path of the first field holding card data ("sale.tenders[0].cvv"), or None."""
    parts = _card_data_at(payload)
    if parts is None:
        return None
    text = path
    for part in parts:
        text = _joined(text, part)
    return text or "value"


def _pairs_once(pairs: list[tuple[str, Any]]) -> dict:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("a JSON object repeats a key")
    return document


def json_loads_checkable(text: str | bytes) -> Any:
    """JSON that the guard can check whole: an object that repeats a key is refused (ValueError), since
    a parser keeps one of the values while the raw text, stored as sent, keeps both."""
    return json.loads(text, object_pairs_hook=_pairs_once)


def ensure_no_card_data(payload: Any, path: str = "") -> None:
    """Raise CardDataRejected naming the field path if the payload holds card data."""
    field_path = find_card_data(payload, path)
    if field_path is not None:
        raise CardDataRejected(field_path)
