"""The card guard against generated corpora (ADR 0012): every card number is refused, in every
shape and place it can arrive; real POS data of every kind named in issue 4 goes through."""

import random
import uuid

import pytest

from qiiub.card_guard import find_card_data, gs1_check_digit_valid, luhn_valid

pytestmark = pytest.mark.security

CASES = 4000  # per corpus
DIGITS = "0123456789"

# (prefix, lengths) of the networks a POS in Puerto Rico and the US sees.
NETWORKS = [
    ("4", (16, 19)), ("51", (16,)), ("52", (16,)), ("53", (16,)), ("54", (16,)), ("55", (16,)), ("2221", (16,)),
    ("2500", (16,)), ("2720", (16,)), ("34", (15,)), ("37", (15,)), ("6011", (16, 19)), ("644", (16,)),
    ("65", (16, 19)), ("3528", (16,)), ("3589", (19,)), ("300", (14,)), ("305", (14,)), ("36", (14,)),
    ("38", (16,)), ("62", (16, 19)), ("50", (18,)), ("6304", (19,)), ("67", (16,)), ("2200", (16,)),
]


def _luhn(body: str) -> str:
    return next(body + digit for digit in DIGITS if luhn_valid(body + digit))


def _gs1(body: str) -> str:
    return next(body + digit for digit in DIGITS if gs1_check_digit_valid(body + digit))


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(count))


def _pan(rng: random.Random) -> str:
    prefix, lengths = rng.choice(NETWORKS)
    length = rng.choice(lengths)
    return _luhn(prefix + _digits(rng, length - len(prefix) - 1))


def _shapes(pan: str, rng: random.Random) -> list:
    if len(pan) == 15:  # Amex prints 4-6-5
        grouped = f"{pan[:4]} {pan[4:10]} {pan[10:]}"
    else:
        grouped = " ".join(pan[index:index + 4] for index in range(0, len(pan), 4))
    return [
        pan, grouped, grouped.replace(" ", "-"), grouped.replace(" ", "  "), int(pan),
        f"paid with {grouped} thanks", f"{rng.choice(['Tx', 'ref', 'card:'])}{pan}", f"#{rng.randint(1, 99)} {pan}",
    ]


def test_every_generated_card_number_is_refused_in_every_shape_and_place():
    rng = random.Random(20261125)
    for _ in range(CASES):
        pan = _pan(rng)
        for value in _shapes(pan, rng):
            record = {"type": "sale", "tenders": [{"kind": "card", "processor_ref": value}]}
            assert find_card_data(record, "records[0]") == "records[0].tenders[0].processor_ref", value
        # a barcode field does not launder a card number: no card is a valid GS1 code of a GTIN length
        # whose brand range and length also match, except 14-digit Diners, which the GS1 check separates
        if not (len(pan) == 14 and gs1_check_digit_valid(pan)):
            assert find_card_data({"lines": [{"barcode": pan}]}) == "lines[0].barcode", pan


def _ean13(rng):
    return _gs1(f"{rng.randint(0, 999):03d}" + _digits(rng, 9))


def _gtin14(rng):
    return _gs1(str(rng.randint(0, 8)) + _digits(rng, 12))


def _ndc(rng):
    labeler, product, package = rng.choice([(4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2)])
    parts = (_digits(rng, labeler), _digits(rng, product), _digits(rng, package))
    return rng.choice(["-".join(parts), "".join(parts), f"NDC {'-'.join(parts)} qty {rng.randint(1, 90)}"])


def _phone(rng):
    area = rng.choice(["787", "939", "305", "212", "407"])
    number = f"{area}-{rng.randint(200, 999)}-{_digits(rng, 4)}"
    other = f"{rng.choice(['787', '939'])}-{rng.randint(200, 999)}-{_digits(rng, 4)}"
    return rng.choice([number, f"({area}) {number[4:]}", f"+1 {number.replace('-', ' ')}", f"1-{number}",
                       f"Tel {number} / {other}", f"{number}, {other}"])


def _reference(rng):
    return rng.choice([
        _digits(rng, 12),  # a retrieval reference number (ISO 8583 field 37)
        f"{rng.choice(['ORD', 'INV', 'SO'])}-{rng.randint(2020, 2026)}-{_digits(rng, 6)}",
        f"#{rng.randint(1000, 999999)}",
        str(rng.randint(10**12, 10**13 - 1)),  # a 13-digit order id (Shopify style)
        _digits(rng, rng.choice([20, 22, 24])),  # long unbroken processor transaction ids
        "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(rng.choice([6, 10, 18]))),
        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        str(uuid.UUID(int=rng.getrandbits(128), version=1)),
    ])


@pytest.mark.parametrize(("field", "make"), [
    ("barcode", _ean13),
    ("barcode", lambda rng: _gs1(_digits(rng, 11))),  # UPC-A
    ("barcode", lambda rng: _gs1(_digits(rng, 7))),  # EAN-8
    ("gtin", _gtin14),
    ("ndc", _ndc),
    ("rx_number", lambda rng: rng.choice([_digits(rng, 7), f"{_digits(rng, 7)}-{rng.randint(0, 11):02d}"])),
    ("phone", _phone),
    ("client_uuid", lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4))),
    ("processor_ref", _reference),
    ("order_number", _reference),
    ("description", lambda rng: f"{rng.choice(['Café', 'Arroz', 'Aspirina'])} {_ean13(rng)} {rng.randint(1, 9)} u"),
])
def test_real_pos_data_of_every_kind_is_never_refused(field, make):
    rng = random.Random(f"{field}-{make.__name__}")
    for _ in range(CASES):
        value = make(rng)
        assert find_card_data({"lines": [{field: value}]}) is None, (field, value)


def test_a_card_shaped_gtin_14_is_a_barcode_only_in_a_barcode_field():
    # 14-digit Diners (36…) that is also a valid GTIN-14: the field decides
    rng = random.Random(36)
    both = next(code for code in (_gs1("36" + _digits(rng, 11)) for _ in range(10000)) if luhn_valid(code))
    assert find_card_data({"barcode": both}) is None
    assert find_card_data({"memo": both}) == "memo"
