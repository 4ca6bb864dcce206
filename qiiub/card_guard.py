"""The one card-number guard (D9) that every inbound path calls.

A value is refused when it holds a card number: 13–19 digits (single spaces or dashes between
digit groups allowed), alone or inside a longer string, that passes Luhn *and* falls in an issued
card-brand range with a length that brand uses. The brand check is what keeps real POS data
(GTIN/EAN barcodes, NDC codes, phone numbers, references) from being refused: about one in ten
13-digit barcodes passes Luhn by chance, but few also sit in a brand range at a brand length.
A field whose name says CVV, PIN block or track data is refused whatever it holds.
Masked values (BIN + last 4 with X or * in between) and last-4 values are fine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from qiiub.errors import CardDataRejected

# Digit groups separated by up to three spaces or dashes ("4111 1111-1111  1111"), of any length:
# the card number is looked for among consecutive groups inside it.
_DIGIT_GROUPS = re.compile(r"\d+(?:[ -]{1,3}\d+)*")
_SEPARATORS = re.compile(r"[ -]+")
# A UUID's dash-separated groups can be all digits and line up as a card number by chance.
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_SENSITIVE_FIELD = re.compile(
    r"(^|[_\-. ])(cvv2?|cvc2?|cid|csc|pin[_\-. ]?block|pinblock|track[_\-. ]?[12]?[_\-. ]?data|track[12])($|[_\-. ])",
    re.IGNORECASE,
)

# (prefix range low, high, allowed lengths): issued IIN ranges of the major networks.
_BRAND_RANGES: list[tuple[int, int, tuple[int, ...]]] = [
    (4, 4, (16, 19)),  # Visa (13-digit Visa is no longer issued; GS1 EAN-13s from prefix 4 look like it)
    (51, 55, (16,)),  # Mastercard
    (2221, 2720, (16,)),  # Mastercard 2-series
    (34, 34, (15,)),  # American Express
    (37, 37, (15,)),  # American Express
    (6011, 6011, (16, 19)),  # Discover
    (644, 649, (16, 19)),  # Discover
    (65, 65, (16, 19)),  # Discover
    (3528, 3589, (16, 17, 18, 19)),  # JCB
    (300, 305, (14, 16, 19)),  # Diners Club
    (36, 36, (14, 16, 19)),  # Diners Club
    (38, 39, (16, 19)),  # Diners Club
    (62, 62, (16, 17, 18, 19)),  # UnionPay
    (50, 50, (16, 17, 18, 19)),  # Maestro
    (56, 58, (16, 17, 18, 19)),  # Maestro
    (6304, 6304, (16, 17, 18, 19)),  # Maestro
    (67, 67, (16, 17, 18, 19)),  # Maestro
    (2200, 2204, (16, 17, 18, 19)),  # Mir
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


def _in_brand_range(digits: str) -> bool:
    for low, high, lengths in _BRAND_RANGES:
        width = len(str(low))
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return True
    return False


def is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _in_brand_range(digits) and luhn_valid(digits)


def text_contains_card_number(text: str) -> bool:
    for match in _DIGIT_GROUPS.finditer(_UUID.sub(" ", text)):
        groups = _SEPARATORS.split(match.group())
        # Any run of consecutive groups may be the card ("Tx 2024 4111 1111 1111 1111"), but an
        # unbroken group is never sliced: long references would be refused by chance.
        for first in range(len(groups)):
            digits = ""
            for group in groups[first:]:
                digits += group
                if len(digits) > 19:
                    break
                if is_card_number(digits):
                    return True
    return False


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    """Yield (path, value, key name) for every leaf of a JSON-like value."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield child, None, str(key)
            yield from _walk(item, child)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value, ""


def find_card_data(payload: Any, path: str = "") -> str | None:
    """Return the path of the first field holding card data, or None."""
    for field_path, value, key in _walk(payload, path):
        if key and (_SENSITIVE_FIELD.search(key) or text_contains_card_number(key)):
            return field_path
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            if text_contains_card_number(str(value)):
                return field_path or "value"
    return None


def ensure_no_card_data(payload: Any, path: str = "") -> None:
    """Raise CardDataRejected naming the field path if the payload holds card data."""
    field_path = find_card_data(payload, path)
    if field_path is not None:
        raise CardDataRejected(field_path)
