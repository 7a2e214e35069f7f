"""items.py: keys, sizes, canonical bytes, structural checks."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from wire_strategies import items, numbers, respell, respell_number

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.items import (
    canonical_binary,
    canonical_bytes,
    canonical_number,
    item_hash,
    item_size,
    key_bytes,
    key_of,
    key_text,
    validate_item,
)
from ddbmigrate.model import KeyAttribute, KeySchema

KEY = KeySchema(KeyAttribute("name", "S"), KeyAttribute("city", "S"))
ALICE = {
    "city": {"S": "Seattle"},
    "visits": {"N": "12"},
    "name": {"S": "Alice"},
}


# --- keys ---


def test_key_of_keeps_only_key_attributes_partition_first() -> None:
    assert list(key_of(ALICE, KEY).items()) == [
        ("name", {"S": "Alice"}),
        ("city", {"S": "Seattle"}),
    ]


def test_key_of_names_the_missing_attribute() -> None:
    with pytest.raises(CorruptDataError, match="'city'"):
        key_of({"name": {"S": "Alice"}}, KEY)


def test_key_of_refuses_a_key_of_the_wrong_type() -> None:
    with pytest.raises(CorruptDataError, match="'name' of type S"):
        key_of({"name": {"N": "1"}, "city": {"S": "x"}}, KEY)


def test_key_text_is_readable() -> None:
    assert key_text(key_of(ALICE, KEY)) == 'name="Alice", city="Seattle"'
    assert key_text({"id": {"N": "1.50"}, "b": {"B": "AAE="}}) == "id=1.50, b=base64:AAE="


def test_key_text_never_raises_on_odd_values() -> None:
    assert key_text({"x": {"L": []}}) == 'x={"L":[]}'


def test_key_bytes_ignores_attribute_order_and_number_spelling() -> None:
    a = {"id": {"N": "100"}, "s": {"S": "x"}}
    b = {"s": {"S": "x"}, "id": {"N": "1E+2"}}
    assert key_bytes(a) == key_bytes(b)


# --- size ---


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),  # UTF-8 bytes, not characters
        ({"N": "12"}, 2),
        ({"N": "123"}, 3),
        ({"N": "1.50"}, 2),  # trailing zero is not stored
        ({"N": "-0.00012300"}, 3),
        ({"N": "0"}, 2),
        ({"B": "AAE="}, 2),
        ({"B": "AAE"}, 2),
        ({"B": ""}, 0),
        ({"BOOL": False}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["a", "bc"]}, 3),
        ({"NS": ["1", "22"]}, 4),
        ({"BS": ["AA==", "AAE="]}, 3),
        ({"L": []}, 3),
        ({"M": {}}, 3),
        ({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"k": {"S": "ab"}}}, 3 + 1 + 1 + 2),
    ],
)
def test_item_size_follows_dynamodb_rules(value: dict[str, object], size: int) -> None:
    assert item_size({"a": value}) == 1 + size


# --- canonical form ---


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.50", "1.5"),
        ("100", "1E+2"),
        ("100", "1e2"),
        ("-0", "0"),
        ("0.000", "0"),
        ("+7", "7"),
        ("0012", "12"),
        ("1.2e-3", "0.0012"),
    ],
)
def test_equal_numbers_have_one_canonical_form(a: str, b: str) -> None:
    assert canonical_number(a) == canonical_number(b)


def test_38_digit_numbers_are_not_rounded() -> None:
    a = "12345678901234567890123456789012345678"
    b = "12345678901234567890123456789012345679"
    assert canonical_number(a) != canonical_number(b)
    assert canonical_bytes({"n": {"N": a}}) != canonical_bytes({"n": {"N": b}})
    assert canonical_number("-1." + "9" * 37 + "E-130") != canonical_number("-2E-130")


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "abc", "", "1e99999999"])
def test_invalid_numbers_are_corrupt(bad: str) -> None:
    with pytest.raises(CorruptDataError):
        canonical_bytes({"n": {"N": bad}})


def test_binary_is_compared_by_bytes() -> None:
    assert canonical_binary("AAE") == canonical_binary("AAE=") == "AAE="
    assert canonical_bytes({"b": {"B": "AA"}}) == canonical_bytes({"b": {"B": "AA=="}})
    with pytest.raises(CorruptDataError):
        canonical_bytes({"b": {"B": "A*=="}})


def test_sets_are_sorted_ns_by_value() -> None:
    assert canonical_bytes({"s": {"NS": ["10", "9", "-1"]}}) == b'{"s":{"NS":["-1","9","1E+1"]}}'
    assert canonical_bytes({"s": {"SS": ["b", "a"]}}) == canonical_bytes({"s": {"SS": ["a", "b"]}})


def test_list_order_matters() -> None:
    one = {"l": {"L": [{"S": "a"}, {"S": "b"}]}}
    two = {"l": {"L": [{"S": "b"}, {"S": "a"}]}}
    assert canonical_bytes(one) != canonical_bytes(two)


def test_type_matters() -> None:
    assert canonical_bytes({"a": {"S": "1"}}) != canonical_bytes({"a": {"N": "1"}})
    assert canonical_bytes({"a": {"SS": ["1"]}}) != canonical_bytes({"a": {"L": [{"S": "1"}]}})


def test_item_hash_is_128_bits() -> None:
    assert 0 <= item_hash(ALICE) < 2**128
    assert item_hash(ALICE) == item_hash(dict(reversed(ALICE.items())))


def test_malformed_item_is_corrupt_not_a_crash() -> None:
    with pytest.raises(CorruptDataError):
        canonical_bytes({"a": {"S": "x", "N": "1"}})
    with pytest.raises(CorruptDataError):
        canonical_bytes({"a": {"X": "x"}})


@given(item=items, seed=st.integers())
def test_canonical_bytes_ignore_spelling(item: dict[str, object], seed: int) -> None:
    assert canonical_bytes(respell(item, random.Random(seed))) == canonical_bytes(item)


@given(number=numbers(), seed=st.integers())
def test_respelled_numbers_canonicalise_alike(number: str, seed: int) -> None:
    assert canonical_number(respell_number(number, random.Random(seed))) == canonical_number(number)


@given(number=numbers())
def test_fast_path_agrees_with_decimal_path(number: str) -> None:
    # "0" + digits skips the integer fast path; both must give the same text.
    assert canonical_number("0" + number.lstrip("-")) == canonical_number(number.lstrip("-"))


@given(item=items, name=st.text(min_size=1, max_size=5))
def test_a_new_attribute_changes_the_hash(item: dict[str, object], name: str) -> None:
    assume(name not in item)
    assert item_hash({**item, name: {"NULL": True}}) != item_hash(item)


@given(item=items)
def test_a_changed_value_changes_the_hash(item: dict[str, object]) -> None:
    first = next(iter(item))
    assert item_hash({**item, first: {"L": [item[first]]}}) != item_hash(item)


# --- validation ---


def refusal(item: dict[str, object]) -> str | None:
    """validate_item's complaint about ``item``, or None when it accepts it."""
    try:
        validate_item(item)
    except CorruptDataError as exc:
        return str(exc)
    return None


@given(item=items)
def test_generated_items_are_valid(item: dict[str, object]) -> None:
    # The strategy every property test of items draws from makes only items DynamoDB takes.
    assert refusal(item) is None


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"a": "x"}, "'a' must be an object"),
        ({"a": {"S": "x", "N": "1"}}, "'a' must be an object with exactly one"),
        ({"a": {"s": "x"}}, "'a' has unknown type key 's'"),
        ({"a": {"S": 1}}, "S value must be a string, not a number"),
        ({"a": {"N": "1,5"}}, "'a' N value is not a decimal number"),
        ({"a": {"N": 15}}, "N value must be a string"),
        ({"a": {"B": "not base64!"}}, "B value is not standard base64"),
        ({"a": {"BOOL": "true"}}, "BOOL value must be true or false, not a string"),
        ({"a": {"NULL": False}}, "NULL value must be true"),
        ({"a": {"SS": []}}, "SS value must be a non-empty array"),
        ({"a": {"SS": ["x", "x"]}}, "duplicate members"),
        ({"a": {"NS": ["1", "x"]}}, r"'a\[1\]' N value"),
        ({"a": {"M": {"b": {"L": [{"N": None}]}}}}, r"'a.b\[0\]' N value must be a string"),
        ({"a": {"M": []}}, "M value must be an object"),
        ({"a": {"L": {}}}, "L value must be an array"),
    ],
)
def test_validate_item_names_the_attribute(item: dict[str, object], message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        validate_item(item)


def test_validate_item_refuses_non_objects_and_deep_nesting() -> None:
    with pytest.raises(CorruptDataError, match="must be a JSON object"):
        validate_item([])  # type: ignore[arg-type]
    deep: dict[str, object] = {"S": "x"}
    for _ in range(33):
        deep = {"L": [deep]}
    with pytest.raises(CorruptDataError, match="nested more than 32"):
        validate_item({"a": deep})


def test_validate_item_accepts_empty_values_in_non_key_attributes() -> None:
    for empty in ({"S": ""}, {"B": ""}, {"L": []}, {"M": {}}, {"M": {"l": {"L": [{"M": {}}]}}}):
        assert refusal({"a": empty}) is None, empty
    assert refusal({"a": {"SS": []}}) is not None  # an empty set is what DynamoDB refuses


@given(integer=st.integers(-(10**40), 10**40), zeros=st.integers(0, 3))
def test_integer_fast_path_matches_decimal(integer: int, zeros: int) -> None:
    text = str(integer)
    padded = ("-" if integer < 0 else "") + "0" * zeros + text.lstrip("-")
    # "+" prefix and a ".0" suffix both force the Decimal path.
    assert canonical_number(padded) == canonical_number(text + ".0") == canonical_number(text)
