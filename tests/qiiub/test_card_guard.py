"""The card-number guard's rule (ADRs 0005 and 0024); the generated corpora are in test_card_guard_corpora."""

import random

import pytest

from qiiub.card_guard import find_card_data, gs1_check_digit_valid, luhn_valid

pytestmark = pytest.mark.security


def _with_check_digit(body: str) -> str:
    for digit in "0123456789":
        if luhn_valid(body + digit):
            return body + digit
    raise AssertionError


def _card(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return _with_check_digit(body)


BRANDS = [("4", 16), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15),
          ("6011", 16), ("65", 16), ("3528", 16), ("36", 14), ("62", 19)]


@pytest.mark.parametrize(("prefix", "length"), BRANDS)
def test_card_numbers_of_every_brand_are_found_plain_grouped_and_inside_text(prefix, length):
    rng = random.Random(f"{prefix}-{length}")
    for _ in range(50):
        number = _card(prefix, length, rng)
        grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        dashed = grouped.replace(" ", "-")
        for value in (number, grouped, dashed, f"ref {grouped} paid", int(number)):
            assert find_card_data({"note": value}) == "note", value


def test_nested_paths_are_named_and_sensitive_field_names_are_refused_whatever_they_hold():
    assert find_card_data({"tenders": [{"amount": 5}, {"memo": "4111111111111111"}]}) == "tenders[1].memo"
    for name in ("cvv", "CVV2", "card_cvc", "pin_block", "pinBlock", "track2", "track_1_data"):
        assert find_card_data({"payment": {name: "x"}}) == f"payment.{name}", name


def test_last_four_masked_numbers_and_everyday_pos_values_are_fine():
    rng = random.Random(7)
    values = [
        "1111", "411111XXXXXX1111", "4111 11** **** 1111", "+1 (787) 555-0123", "787-555-0123",
        "0002-3227-40", "Rx 2456789", "550e8400-e29b-41d4-a716-446655440000", "ORD-2026-000123",
        "12345678901234567890123",  # an unbroken run longer than any card is a reference, not a card
    ]
    # UPC-A barcodes (12 digits) never reach 13; EAN-13 from the GS1 prefixes of Puerto Rico/US (0-1)
    values += [_with_check_digit("0" + "".join(rng.choice("0123456789") for _ in range(10))) for _ in range(200)]
    values += [_with_check_digit("0" + "".join(rng.choice("0123456789") for _ in range(11))) for _ in range(200)]
    for value in values:
        assert find_card_data({"value": value}) is None, value


def test_a_card_after_other_digit_groups_or_with_wider_separators_is_found():
    for value in ("Tx 2024 4111 1111 1111 1111", "2024-4111-1111-1111-1111", "4111  1111  1111  1111",
                  "4111 - 1111 - 1111 - 1111", "order 77 4111111111111111 ok"):
        assert find_card_data({"memo": value}) == "memo", value


def test_ean_13_barcodes_from_gs1_prefix_4_are_not_taken_for_visa_in_a_barcode_field():
    # the hard case: a real EAN-13 (valid GS1 check digit) that also passes Luhn, as a 13-digit Visa would
    rng = random.Random(13)
    found = 0
    while found < 500:
        body = rng.choice(["40", "41", "42", "43", "45", "49", "46"]) + "".join(rng.choice("0123456789") for _ in range(10))
        barcode = next(body + digit for digit in "0123456789" if gs1_check_digit_valid(body + digit))
        if luhn_valid(barcode):
            found += 1
            assert find_card_data({"barcode": barcode}) is None, barcode
            assert find_card_data({"memo": barcode}) == "memo", barcode


def test_a_card_number_used_as_a_key_is_not_repeated_in_the_error():
    from qiiub.card_guard import ensure_no_card_data
    from qiiub.errors import CardDataRejected

    with pytest.raises(CardDataRejected) as error:
        ensure_no_card_data({"notes": {"4111 1111 1111 1111": "x"}})
    assert "4111" not in error.value.message and "4111" not in error.value.field_path


def test_uuids_are_never_taken_for_card_numbers():
    import uuid

    rng = random.Random(99)
    for _ in range(20000):
        value = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        assert find_card_data({"client_uuid": value}) is None, value
    # including UUIDs whose groups are all digits
    assert find_card_data({"id": "41111111-1111-4111-8111-111111111111"}) is None
