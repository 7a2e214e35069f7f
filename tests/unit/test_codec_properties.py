"""Every legal item survives write -> read through every codec, and bad items are refused alike.

Codecs: native DYNAMODB_JSON, native ION, Data Pipeline manifest era, Data Pipeline Hive era.
JSON-based codecs keep every text exactly; Ion keeps every value exactly and spells numbers as
``str(Decimal)`` (see formats/ion.py), which ``ion_spelling`` reproduces.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from codec_strategies import (
    EXTREME_NUMBERS,
    HIVE_UNSAFE,
    codec_items,
    hive_safe,
    ion_spelling,
    nest,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.formats import datapipeline, ion, native
from ddbmigrate.items import canonical_bytes, item_size, validate_item
from ddbmigrate.model import Item

Codec = tuple[Callable[[Item], bytes], Callable[[bytes], Item]]

EXACT_CODECS: dict[str, Codec] = {
    "native-json": (native.encode_item_line, native.decode_item_line),
    "datapipeline": (datapipeline.encode_item_line, datapipeline.decode_line),
    "datapipeline-hive": (datapipeline.encode_hive_line, datapipeline.decode_hive_line),
}
ALL_CODECS: dict[str, Codec] = {
    **EXACT_CODECS,
    "native-ion": (ion.encode_item_line, ion.decode_item_line),
}


def refusal(item: Item) -> str | None:
    """validate_item's complaint about ``item``, or None when it accepts it."""
    try:
        validate_item(item)
    except CorruptDataError as exc:
        return str(exc)
    return None


def _round_trip(codec: str, item: Item) -> Item:
    encode, decode = ALL_CODECS[codec]
    line = encode(item)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1, "one item, one line"
    return decode(line)


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=60)
@given(item=codec_items)
def test_json_codecs_carry_every_item_exactly(item: Item) -> None:
    validate_item(item)
    assert _round_trip("native-json", item) == item
    assert _round_trip("datapipeline", item) == item


@settings(max_examples=60)
@given(item=codec_items.filter(hive_safe))
def test_hive_codec_carries_every_item_exactly(item: Item) -> None:
    assert _round_trip("datapipeline-hive", item) == item


@settings(max_examples=60)
@given(item=codec_items)
def test_ion_codec_carries_every_value_exactly(item: Item) -> None:
    decoded = _round_trip("native-ion", item)
    assert canonical_bytes(decoded) == canonical_bytes(item)
    assert decoded == ion_spelling(item)
    # After one trip the spelling is settled: the bytes no longer change.
    line = ion.encode_item_line(decoded)
    assert ion.encode_item_line(ion.decode_item_line(line)) == line


@settings(max_examples=30)
@given(
    item=codec_items,
    name=st.tuples(st.text(max_size=3), st.sampled_from(HIVE_UNSAFE), st.text(max_size=3)).map(
        "".join
    ),
)
def test_hive_encoder_refuses_names_it_cannot_write(item: Item, name: str) -> None:
    with pytest.raises(CorruptDataError, match="cannot represent"):
        datapipeline.encode_hive_line({**item, name: {"S": "x"}})


@settings(max_examples=30)
@given(item=codec_items.filter(hive_safe), codec=st.sampled_from(sorted(ALL_CODECS)))
def test_codecs_agree_with_each_other(item: Item, codec: str) -> None:
    # Any codec's output, re-encoded as native JSON, is the same item DynamoDB would store.
    assert canonical_bytes(_round_trip(codec, item)) == canonical_bytes(item)


# --- hand-picked limits -------------------------------------------------------------------------


@pytest.mark.parametrize("codec", sorted(ALL_CODECS))
def test_extreme_numbers_survive_every_codec(codec: str) -> None:
    item = {"n": {"N": EXTREME_NUMBERS[2]}, "ns": {"NS": list(EXTREME_NUMBERS)}}
    for text in EXTREME_NUMBERS:
        item[f"n{len(item)}"] = {"N": text}
    decoded = _round_trip(codec, item)
    assert canonical_bytes(decoded) == canonical_bytes(item)
    assert decoded == (ion_spelling(item) if codec == "native-ion" else item)


@pytest.mark.parametrize("codec", sorted(ALL_CODECS))
def test_nesting_to_32_levels_survives_and_33_is_refused(codec: str) -> None:
    deep = {"a": nest({"S": "x"}, 32)}
    assert _round_trip(codec, deep) == deep
    encode, decode = ALL_CODECS[codec]
    with pytest.raises(CorruptDataError, match="nested more than 32 levels"):
        decode(encode({"a": nest({"S": "x"}, 33)}))


@pytest.mark.parametrize("codec", sorted(ALL_CODECS))
def test_empty_values_outside_keys_survive_every_codec(codec: str) -> None:
    item = {
        "s": {"S": ""},
        "b": {"B": ""},
        "l": {"L": []},
        "m": {"M": {}},
        "nested": {"M": {"l": {"L": [{"L": []}, {"M": {}}]}}},
        "one": {"SS": ["only"]},
    }
    assert _round_trip(codec, item) == item


@pytest.mark.parametrize("codec", sorted(ALL_CODECS))
def test_an_item_near_400_kb_survives_every_codec(codec: str) -> None:
    blob = base64.b64encode(bytes(range(256)) * 600).decode()  # 153,600 bytes
    item = {
        "id": {"S": "big"},
        "text": {"S": 'é\x02\x03"\\' * 40_000},  # 280,000 bytes of UTF-8 needing escapes
        "blob": {"B": blob},
    }
    assert 390_000 < item_size(item) <= 400 * 1024
    decoded = _round_trip(codec, item)
    assert decoded == item


# --- the rules every decoder enforces (items.validate_item) -----------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"N": "1234567890123456789012345678901234567891"}, "40 significant digits"),
        ({"N": "1.23456789012345678901234567890123456789"}, "39 significant digits"),
        ({"N": "1E+126"}, "out of DynamoDB's range"),
        ({"N": "-1E+126"}, "out of DynamoDB's range"),
        ({"N": "9.9E-131"}, "out of DynamoDB's range"),
        ({"N": "0.0000001E-124"}, "out of DynamoDB's range"),
        ({"N": "1e99999999999"}, "out of DynamoDB's range"),
        ({"B": "A"}, "not standard base64"),
        ({"B": "AAA=="}, "not standard base64"),
        ({"B": "AA="}, "not standard base64"),
        ({"NS": ["1", "1.0"]}, "duplicate members"),
        ({"NS": ["100", "1E+2"]}, "duplicate members"),
        ({"BS": ["AAE", "AAE="]}, "duplicate members"),
        ({"NS": []}, "non-empty"),
    ],
)
def test_validate_item_enforces_dynamodb_rules(value: dict[str, object], message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        validate_item({"a": value})


@pytest.mark.parametrize(
    "text",
    [
        "1E-130",
        "9.9999999999999999999999999999999999999E+125",
        "0.00000000000000000000000000000000000000000000001",
        "1" + "0" * 100,  # one significant digit: trailing zeros are not stored
        "0E+999999999999",  # zero, however spelled
        "-0.10",
        "12345678901234567890123456789012345678",
        "000000000000000000000000000000000000000000001",
    ],
)
def test_validate_item_accepts_numbers_dynamodb_accepts(text: str) -> None:
    item = {"a": {"N": text}}
    assert refusal(item) is None
    # Every decoder checks what it reads with validate_item: each takes the number and keeps it.
    for codec in sorted(ALL_CODECS):
        decoded = _round_trip(codec, item)
        assert canonical_bytes(decoded) == canonical_bytes(item), codec


@pytest.mark.parametrize("codec", sorted(ALL_CODECS))
def test_every_decoder_refuses_what_dynamodb_would(codec: str) -> None:
    encode, decode = ALL_CODECS[codec]
    for bad in ({"N": "1E+126"}, {"NS": ["1", "1.0"]}, {"SS": ["x", "x"]}):
        with pytest.raises(CorruptDataError, match="'a'"):
            decode(encode({"a": bad}))
