"""The card guard against generated corpora (ADR 0024): every card number of every network is refused
in every grouping, separator and place; the real POS data of every kind goes through in its field."""

import json
import random

import pytest

from qiiub.card_guard import find_card_data, gs1_check_digit_valid, luhn_valid, mask_card_numbers
from tests.card_corpus import (
    GROUPINGS,
    MUST_PASS,
    card_in_grouping,
    card_number,
    digits,
    ean13,
    gtin14,
    must_pass_values,
    with_gs1,
)

pytestmark = pytest.mark.security

CASES = 2000  # per grouping and per must-pass kind


@pytest.mark.parametrize("grouping", GROUPINGS)
def test_every_card_number_is_refused_in_every_grouping_separator_and_place(grouping):
    rng = random.Random(f"cards-{grouping}")
    for _ in range(CASES):
        pan, value = card_in_grouping(grouping, rng)
        record = {"type": "sale", "tenders": [{"kind": "card", "processor_ref": value}]}
        assert find_card_data(record, "records[0]") == "records[0].tenders[0].processor_ref", repr(value)
        assert find_card_data({"notes": [value]}) == "notes[0]", repr(value)


def test_card_numbers_sent_as_json_numbers_are_refused():
    rng = random.Random("json-numbers")
    for _ in range(CASES):
        pan = card_number(rng)
        numbers = [json.loads(pan)]
        if int(float(pan)) == int(pan):  # a float keeps every digit up to 2**53
            numbers.append(json.loads(pan + ".0"))
        for value in numbers:
            assert find_card_data({"amount_ref": value}) == "amount_ref", value


def test_a_barcode_field_lets_through_only_a_card_that_is_also_a_valid_gtin():
    # The declared-barcode trade-off: a 13-digit Visa or 14-digit Diners that also carries a valid
    # GS1 check digit is a barcode there (about 1 in 10 of those two shapes); every other card is refused.
    rng = random.Random("barcode-field")
    through = 0
    for _ in range(CASES * 5):
        pan = card_number(rng)
        if find_card_data({"lines": [{"barcode": pan}]}) is None:
            assert len(pan) in (13, 14) and gs1_check_digit_valid(pan), pan
            through += 1
    assert through < CASES * 5 * 0.02


@pytest.mark.parametrize("kind", MUST_PASS)
def test_real_pos_data_of_every_kind_passes_in_its_field(kind):
    field, _ = MUST_PASS[kind]
    rng = random.Random(f"must-pass-{kind}")
    for value in must_pass_values(kind, rng, CASES):
        assert find_card_data({"lines": [{field: value}]}) is None, (field, value)


def _refused_share(values) -> float:
    return sum(find_card_data({"description": value}) is not None for value in values) / len(values)


def test_barcodes_written_in_free_text_are_refused_at_the_rates_the_adr_gives():
    # Outside a barcode field a GS1 code that is also card-shaped cannot be told from a card: EAN-13s
    # from GS1 prefixes 400–499 that pass Luhn read as a 13-digit Visa, GTIN-14s as a 14-digit Diners,
    # a barcode followed by a quantity as a longer card. ADR 0024 gives these rates.
    rng = random.Random("free-text")
    count = 10 * CASES
    assert _refused_share([f"Arroz {ean13(rng)}" for _ in range(count)]) < 0.015
    assert _refused_share([f"Caja {gtin14(rng)}" for _ in range(count)]) < 0.005
    assert _refused_share([f"Café {ean13(rng)} {rng.randint(1, 9)} u" for _ in range(count)]) < 0.02


def test_a_card_shaped_gtin_14_is_a_barcode_only_in_a_barcode_field():
    rng = random.Random(36)
    both = next(code for code in (with_gs1("36" + digits(rng, 11)) for _ in range(10000)) if luhn_valid(code))
    assert find_card_data({"barcode": both}) is None
    assert find_card_data({"memo": both}) == "memo"


def test_record_ids_a_system_assigns_are_not_taken_for_13_or_14_digit_cards():
    rng = random.Random("shopify-ids")
    visa_13 = [card_number(rng) for _ in range(3000)]
    visa_13 = [int(pan) for pan in visa_13 if len(pan) in (13, 14)]
    for number in visa_13:
        # Shopify's product and order ids are 13–14 digits, as JSON integers and inside gid strings
        payload = {"id": number, "product_id": number, "variantId": number,
                   "admin_graphql_api_id": f"gid://shopify/Product/{number}"}
        assert find_card_data(payload) is None, number
        assert find_card_data({"memo": str(number)}) == "memo", number
        assert find_card_data({"paid": number}) == "paid", number  # a name ending in "id" is not an id key
    sixteen = next(int(pan) for pan in iter(lambda: card_number(rng), None) if len(pan) == 16)
    assert find_card_data({"id": sixteen}) == "id"


def test_masking_keeps_the_first_six_and_last_four_and_nothing_else_changes():
    rng = random.Random("mask")
    for grouping in GROUPINGS:
        for _ in range(200):
            pan, value = card_in_grouping(grouping, rng)
            masked = mask_card_numbers(value)
            assert find_card_data({"memo": masked}) is None, (value, masked)
            assert len(masked) == len(value)
            kept = "".join(char for char in masked if char.isdecimal())
            assert pan not in kept
            assert [a for a, b in zip(value, masked, strict=True) if a != b] == [
                a for a, b in zip(value, masked, strict=True) if b == "X"]
            # digits of the context can join the card (a ticket number before it): then more is masked
            assert masked.count("X") - value.count("X") >= len(pan) - 10
