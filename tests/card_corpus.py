"""Generated corpora for the card guard: card numbers of every network in every grouping, and the
real POS data that must pass. Shared by the guard's own tests and the inbound-path tests; every
generator takes a seeded `random.Random`, so a failure names a reproducible case."""

from __future__ import annotations

import random
import uuid

from qiiub.card_guard import gs1_check_digit_valid, luhn_valid

DIGITS = "0123456789"

# (prefix, lengths) of the networks' issued ranges, 13-digit Visa included.
NETWORKS = [
    ("4", (13, 16, 19)), ("51", (16,)), ("52", (16,)), ("53", (16,)), ("54", (16,)), ("55", (16,)),
    ("2221", (16,)), ("2500", (16,)), ("2720", (16,)), ("34", (15,)), ("37", (15,)), ("6011", (16, 19)),
    ("644", (16,)), ("649", (16,)), ("65", (16, 19)), ("3528", (16,)), ("3589", (19,)), ("300", (14,)),
    ("305", (14,)), ("36", (14, 16)), ("38", (16,)), ("39", (16,)), ("62", (16, 17, 18, 19)), ("50", (18,)),
    ("56", (16,)), ("58", (19,)), ("6304", (19,)), ("67", (16,)), ("2200", (16,)), ("2204", (19,)),
    ("60", (16,)), ("81", (16,)), ("636", (16,)), ("9792", (16,)),
]

SEPARATORS = [" ", "-", ".", "/", "_", "\n", "\r\n", "\t", "  ", " - ", " / ", "\u00a0", "\u2013"]
FULL_WIDTH = str.maketrans(DIGITS, "０１２３４５６７８９")


def digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(count))


def with_luhn(body: str) -> str:
    return next(body + digit for digit in DIGITS if luhn_valid(body + digit))


def with_gs1(body: str) -> str:
    return next(body + digit for digit in DIGITS if gs1_check_digit_valid(body + digit))


def card_number(rng: random.Random) -> str:
    prefix, lengths = rng.choice(NETWORKS)
    length = rng.choice(lengths)
    return with_luhn(prefix + digits(rng, length - len(prefix) - 1))


def _cut(pan: str, sizes: list[int]) -> list[str]:
    groups, start = [], 0
    for size in sizes:
        groups.append(pan[start:start + size])
        start += size
    return [group for group in [*groups, pan[start:]] if group]


def _printed(pan: str) -> list[str]:
    """As the card itself prints it: Amex 4-6-5, Diners 4-6-4, others in fours (4-4-4-4-3)."""
    if len(pan) in (14, 15):
        return _cut(pan, [4, 6])
    return _cut(pan, [4] * 4)


def _random_cuts(pan: str, rng: random.Random) -> list[str]:
    points = sorted(rng.sample(range(1, len(pan)), rng.randint(2, 5)))
    return [pan[start:end] for start, end in zip([0, *points], [*points, len(pan)], strict=True)]


# Every way of splitting a card number into digit groups the corpora try: name → groups.
GROUPINGS = {
    "unbroken": lambda pan, rng: [pan],
    "printed": lambda pan, rng: _printed(pan),
    "four_six_rest": lambda pan, rng: _cut(pan, [4, 6]),
    "six_and_rest": lambda pan, rng: [pan[:6], pan[6:]],
    "eight_and_rest": lambda pan, rng: [pan[:8], pan[8:]],
    "one_cut": lambda pan, rng: _cut(pan, [rng.randint(1, len(pan) - 1)]),
    "random_cuts": _random_cuts,
}


def _in_context(text: str, rng: random.Random) -> str:
    return rng.choice([
        "{}", "paid with {} thanks", "ref:{}", f"#{rng.randint(1, 99)} " + "{}", "Tarjeta: {}.",
        "card\n{}\n", "{} (cliente)", "Tx 2024 {}",
    ]).format(text)


def card_in_grouping(grouping: str, rng: random.Random) -> tuple[str, str]:
    """(the card number's digits, a value holding it in that grouping with a random separator and context)."""
    pan = card_number(rng)
    separator = rng.choice(SEPARATORS)
    text = separator.join(GROUPINGS[grouping](pan, rng))
    if rng.random() < 0.05:
        text = text.translate(FULL_WIDTH)
    return pan, _in_context(text, rng)


def card_values(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """`count` (digits, value) pairs over every grouping in turn."""
    names = list(GROUPINGS)
    return [card_in_grouping(names[index % len(names)], rng) for index in range(count)]


# Real POS data that must pass, by kind: (field name it arrives in, generator).
def ean13(rng):
    return with_gs1(f"{rng.randint(0, 999):03d}" + digits(rng, 9))


def upc_a(rng):
    return with_gs1(digits(rng, 11))


def ean8(rng):
    return with_gs1(digits(rng, 7))


def gtin14(rng):
    return with_gs1(str(rng.randint(0, 8)) + digits(rng, 12))


def ndc(rng):
    labeler, product, package = rng.choice([(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)])
    parts = (digits(rng, labeler), digits(rng, product), digits(rng, package))
    return rng.choice(["-".join(parts), "".join(parts), f"NDC {'-'.join(parts)} qty {rng.randint(1, 90)}"])


def rx_number(rng):
    return rng.choice([digits(rng, 7), f"{digits(rng, 7)}-{rng.randint(0, 11):02d}", f"Rx {digits(rng, 7)}"])


def phone(rng):
    area = rng.choice(["787", "939", "305", "212", "407"])
    number = f"{area}-{rng.randint(200, 999)}-{digits(rng, 4)}"
    other = f"{rng.choice(['787', '939'])}-{rng.randint(200, 999)}-{digits(rng, 4)}"
    return rng.choice([number, f"({area}) {number[4:]}", f"+1 {number.replace('-', ' ')}", f"1-{number}",
                       f"Tel {number}, {other}", f"{area}.{number[4:].replace('-', '.')}"])


def a_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=rng.choice([1, 4])))


def last_four(rng):
    return rng.choice(["{}", "x{}", "****{}", "XXXX-{}", "ending {}", "•••• {}"]).format(digits(rng, 4))


def masked_card(rng):
    pan = card_number(rng)
    middle = len(pan) - 10
    return rng.choice([
        pan[:6] + "X" * middle + pan[-4:], pan[:6] + "*" * middle + pan[-4:], "*" * (len(pan) - 4) + pan[-4:],
        f"{pan[:4]} {pan[4:6]}** **** {pan[-4:]}", f"{pan[:4]}-XXXX-XXXX-{pan[-4:]}",
    ])


def reference(rng):
    return rng.choice([
        digits(rng, 12),  # a retrieval reference number (ISO 8583 field 37)
        f"{rng.choice(['ORD', 'INV', 'SO'])}-{rng.randint(2020, 2026)}-{digits(rng, 6)}",
        f"#{rng.randint(1000, 999999)}",
        digits(rng, rng.choice([20, 22, 24])),  # long unbroken processor transaction ids
        "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(rng.choice([6, 10, 18]))),
        a_uuid(rng),
        f"gid://shopify/Order/{rng.randint(10**12, 10**14 - 1)}",
    ])


def moment(rng):
    return rng.choice([
        f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
        f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/2026 {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        f"{rng.randint(0, 9999)}.{rng.randint(0, 99):02d}",
    ])


MUST_PASS = {
    "ean13": ("barcode", ean13),
    "upc_a": ("upc", upc_a),
    "ean8": ("barcode", ean8),
    "gtin14": ("gtin", gtin14),
    "ndc": ("ndc", ndc),
    "rx_number": ("rx_number", rx_number),
    "phone": ("phone", phone),
    "uuid": ("client_uuid", a_uuid),
    "last_four": ("card_last4", last_four),
    "masked_card": ("masked_pan", masked_card),
    "reference": ("processor_ref", reference),
    "moment": ("note", moment),
}


def must_pass_values(kind: str, rng: random.Random, count: int) -> list[str]:
    _, make = MUST_PASS[kind]
    return [make(rng) for _ in range(count)]
