"""The fault proxy's own sizes and capacity units against examples worked by hand from
DynamoDB's documentation ("DynamoDB item sizes and formats", "DynamoDB read and write
operations"); each expected number is spelled out with the rule that gives it."""

from __future__ import annotations

import base64

import pytest
from dynamodb_sizes import item_size, number_size, read_units, value_size, write_units

pytestmark = pytest.mark.faults

KB = 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("123", 3),  # 3 significant digits: ceil(3/2) = 2, + 1
        ("12", 2),  # 2 digits: 1 + 1
        ("100", 2),  # trailing zeros trimmed: 1 digit
        ("1.50", 2),  # "15": 1 + 1
        ("-0.000123400", 3),  # "1234": 2 + 1
        ("10.01", 3),  # "1001", the zeros inside count: 2 + 1
        ("1E+100", 2),  # 1 digit
        ("0", 1),  # no significant digit: the 1 byte alone
        ("0.000", 1),
        ("1" * 38, 20),  # the most digits DynamoDB takes: 19 + 1
        ("12345678901234567890123456789012345.678", 20),
    ],
)
def test_a_number_is_one_byte_per_two_significant_digits_plus_one(text: str, size: int) -> None:
    assert number_size(text) == size
    assert value_size({"N": text}) == size


def test_each_type_of_value_by_the_published_rules() -> None:
    assert value_size({"S": "Zürich"}) == 7  # UTF-8 bytes: ü is two
    assert value_size({"S": ""}) == 0
    assert value_size({"B": b64(bytes(range(5)))}) == 5  # raw bytes, not the 8 of base64
    assert value_size({"B": ""}) == 0
    assert value_size({"BOOL": False}) == value_size({"NULL": True}) == 1
    assert value_size({"SS": ["a", "bc"]}) == 3  # a set: the sum of its members
    assert value_size({"NS": ["1.50", "100"]}) == 4  # 2 + 2
    assert value_size({"BS": [b64(b"abc"), b64(b"\x00")]}) == 4  # 3 + 1
    assert value_size({"L": []}) == value_size({"M": {}}) == 3  # empty: the overhead alone
    assert value_size({"L": [{"S": "ab"}, {"N": "7"}]}) == 3 + (1 + 2) + (1 + 2)
    # A map element is an attribute: its name counts too.
    assert value_size({"M": {"k": {"S": "v"}, "é": {"L": []}}}) == 3 + (1 + 1 + 1) + (1 + 2 + 3)


def test_an_item_is_its_names_and_values() -> None:
    item = {
        "Id": {"N": "123"},  # 2 + 3
        "Name": {"S": "Zürich"},  # 4 + 7
        "Flag": {"BOOL": True},  # 4 + 1
        "Nothing": {"NULL": True},  # 7 + 1
        "Data": {"B": b64(bytes(range(5)))},  # 4 + 5
        "Tags": {"SS": ["a", "bc"]},  # 4 + 3
        "Nums": {"NS": ["1.50", "100"]},  # 4 + 4
        "List": {"L": [{"S": "ab"}, {"N": "7"}]},  # 4 + 9
        "Map": {"M": {"k": {"S": "v"}}},  # 3 + 3 + (1 + 1 + 1)
    }
    assert item_size(item) == 5 + 11 + 5 + 8 + 9 + 7 + 8 + 13 + 9 == 75
    assert item_size({}) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"a": {"S": 1}},
        {"a": {"N": "one"}},
        {"a": {"B": "not base64!"}},
        {"a": {"X": "?"}},
        {"a": {"S": "x", "N": "1"}},
        {"a": {"L": {}}},
        {"a": "x"},
    ],
)
def test_what_is_not_wire_form_is_a_value_error(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not"):
        item_size(bad)  # type: ignore[arg-type]


def test_read_units_follow_the_documented_examples() -> None:
    # GetItem of a 3,500-byte item: rounded up to 4 KB, one unit; eventually consistent, half.
    assert read_units([3500], consistent=True) == 1.0
    assert read_units([3500], consistent=False) == 0.5
    # An 8 KB item: 2 units strongly consistent, 1 eventually consistent.
    assert read_units([8 * KB], consistent=True) == 2.0
    assert read_units([8 * KB], consistent=False) == 1.0
    # A 10 KB item is rounded up to 12 KB: 3 units.
    assert read_units([10 * KB], consistent=True) == 3.0
    # BatchGetItem of 1.5 KB and 6.5 KB: each rounded up (4 KB + 8 KB = 12 KB), 3 units, not 2.
    assert read_units([1536, 6656], consistent=True) == 3.0
    # A Query or Scan page adds its items first: 10 items of 40.8 KB together round to 44 KB.
    page = [4178] * 10  # 41,780 bytes = 40.8 KB
    assert read_units([sum(page)], consistent=True) == 11.0
    assert read_units([sum(page)], consistent=False) == 5.5
    # Reading nothing still costs the smallest read.
    assert read_units([0], consistent=True) == read_units([], consistent=True) == 1.0


def test_write_units_are_one_per_kilobyte_rounded_up() -> None:
    assert write_units(500) == 1.0
    assert write_units(KB) == 1.0
    assert write_units(KB + 1) == 2.0
    assert write_units(3584) == 4.0  # 3.5 KB
    assert write_units(0) == 1.0  # a write costs at least one unit
