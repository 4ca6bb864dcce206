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
from functools import lru_cache
from typing import Any

from qiiub.errors import CardDataRejected

# Digit groups separated by up to three spaces or dashes ("4111 1111-1111  1111"), of any length:
# the card number is looked for among consecutive groups inside it.
_DIGIT_GROUPS = re.compile(r"\d+(?:[ -]{1,3}\d+)*")
_SEPARATORS = re.compile(r"[ -]+")
# Fields that declare a product barcode: there, a GTIN with a valid GS1 check digit is a barcode.
_BARCODE_FIELD = re.compile(r"(^|[_\-. ])(barcode|gtin|upc|ean|sku|plu)s?($|[_\-. ])", re.IGNORECASE)
GTIN_LENGTHS = (8, 12, 13, 14)
CARD_GROUP_MAX = 6  # the longest digit group a printed or typed card number is split into
_THIRTEEN_DIGITS = re.compile(r"(?:\d[ -]{0,3}){12}\d")
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
    # Most POS values (amounts, codes, names, timestamps) never hold 13 digits in a row: one
    # regex search rules them out before the detailed check.
    if len(text) < 13 or not _THIRTEEN_DIGITS.search(text):
        return False
    for match in _DIGIT_GROUPS.finditer(_UUID.sub(" ", text)):
        groups = _SEPARATORS.split(match.group())
        # An unbroken group is a card on its own or not at all: it is never sliced (long references
        # would be refused by chance). Consecutive groups join into a card the way cards are printed
        # and typed, in groups of at most 6 ("Tx 2024 4111 1111 1111 1111", Amex 4-6-5): a barcode
        # followed by a quantity ("Arroz 3624319024853 8") is not a card.
        for first, group in enumerate(groups):
            if is_card_number(group):
                return True
            digits = ""
            for part in groups[first:]:
                if len(part) > CARD_GROUP_MAX:
                    break
                digits += part
                if len(digits) > 19:
                    break
                if is_card_number(digits):
                    return True
    return False


def gs1_check_digit_valid(digits: str) -> bool:
    """GS1's mod-10 (weights 3 and 1 from the right, check digit excluded): UPC, EAN, GTIN."""
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _is_barcode(value: Any) -> bool:
    text = str(value)
    return text.isdigit() and len(text) in GTIN_LENGTHS and gs1_check_digit_valid(text)


@lru_cache(maxsize=4096)
def _declares_barcode(key: str) -> bool:
    return bool(_BARCODE_FIELD.search(key))


@lru_cache(maxsize=4096)
def _key_refused(key: str) -> bool:
    # Keys repeat across records ("amount", "tenders"…): each distinct one is checked once.
    return bool(_SENSITIVE_FIELD.search(key)) or text_contains_card_number(key)


def _card_data_at(value: Any) -> list | None:
    """The path (keys and indexes) to the first card data inside `value`, [] for `value` itself,
    or None. Paths are built only for a hit: this runs over every inbound payload."""
    if isinstance(value, str):
        return [] if text_contains_card_number(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            if _key_refused(name):
                return [name]
            if _declares_barcode(name) and _is_barcode(item):
                continue  # a GTIN-14 can look like a 14-digit Diners card; its own check digit says otherwise
            if (inner := _card_data_at(item)) is not None:
                return [name, *inner]
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if (inner := _card_data_at(item)) is not None:
                return [index, *inner]
    elif isinstance(value, int) and not isinstance(value, bool):
        return [] if text_contains_card_number(str(value)) else None
    return None


def find_card_data(payload: Any, path: str = "") -> str | None:
    """Return the path of the first field holding card data ("sale.tenders[0].cvv"), or None."""
    parts = _card_data_at(payload)
    if parts is None:
        return None
    text = path
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "value"


def ensure_no_card_data(payload: Any, path: str = "") -> None:
    """Raise CardDataRejected naming the field path if the payload holds card data."""
    field_path = find_card_data(payload, path)
    if field_path is not None:
        raise CardDataRejected(field_path)
