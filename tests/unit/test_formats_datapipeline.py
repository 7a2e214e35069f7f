"""formats/datapipeline.py: Data Pipeline backups, manifest era and Hive era."""

from __future__ import annotations

import orjson
import pytest

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.formats import datapipeline as dp

# FORMATS.md section 2, byte for byte.
SAMPLE_LINE = (
    b'{"name":{"s":"Alice"},"city":{"s":"Seattle"},"visits":{"n":"12"},"tags":{"sS":["a","b"]},'
    b'"avatar":{"b":"AAEC"},"prefs":{"m":{"dark":{"bOOL":true}}},'
    b'"history":{"l":[{"n":"1"},{"nULL":true}]}}'
)
SAMPLE_ITEM = {
    "name": {"S": "Alice"},
    "city": {"S": "Seattle"},
    "visits": {"N": "12"},
    "tags": {"SS": ["a", "b"]},
    "avatar": {"B": "AAEC"},
    "prefs": {"M": {"dark": {"BOOL": True}}},
    "history": {"L": [{"N": "1"}, {"NULL": True}]},
}
SAMPLE_MANIFEST = b"""{"name":"DynamoDB-export","version":3,
"entries": [
{"url":"s3://bucket/backups/2024-01-01-00-00-00/7f1c6a52-1d8e-4d43-9c59-0e3b2a1f9a11","mandatory":true}
]}"""
# FORMATS.md section 3.
SAMPLE_HIVE = b'name\x03{"s":"Alice"}\x02city\x03{"s":"Seattle"}\x02visits\x03{"n":"12"}'


# --- manifest-era lines ---


def test_decodes_the_formats_md_sample_item_by_item() -> None:
    item = dp.decode_line(SAMPLE_LINE)
    for name, value in SAMPLE_ITEM.items():
        assert item[name] == value
    assert list(item) == list(SAMPLE_ITEM)


def test_encodes_the_formats_md_sample_byte_for_byte() -> None:
    assert dp.encode_item_line(SAMPLE_ITEM) == SAMPLE_LINE + b"\n"


def test_writes_every_type_key_as_emr_dynamodb_tools_does() -> None:
    item = {
        "s": {"S": "x"},
        "n": {"N": "1"},
        "b": {"B": "AA=="},
        "ss": {"SS": ["x"]},
        "ns": {"NS": ["1"]},
        "bs": {"BS": ["AA=="]},
        "m": {"M": {}},
        "l": {"L": []},
        "z": {"NULL": True},
        "t": {"BOOL": False},
    }
    record = orjson.loads(dp.encode_item_line(item))
    assert [next(iter(v)) for v in record.values()] == list(dp.WRITE_KEYS.values())
    assert record["m"] == {"m": {}}
    assert record["l"] == {"l": []}


def test_type_keys_are_read_case_insensitively_at_every_level() -> None:
    line = (
        b'{"a":{"S":"x"},"b":{"NULL":true},"c":{"null":true},"d":{"Bool":false},'
        b'"e":{"M":{"f":{"L":[{"Ss":["y"]},{"NS":["1"]},{"bs":["AA=="]},{"m":{"g":{"N":"2"}}}]}}}}'
    )
    assert dp.decode_line(line) == {
        "a": {"S": "x"},
        "b": {"NULL": True},
        "c": {"NULL": True},
        "d": {"BOOL": False},
        "e": {
            "M": {
                "f": {
                    "L": [
                        {"SS": ["y"]},
                        {"NS": ["1"]},
                        {"BS": ["AA=="]},
                        {"M": {"g": {"N": "2"}}},
                    ]
                }
            }
        },
    }


def test_empty_list_and_map_survive() -> None:
    line = b'{"id":{"s":"k"},"l":{"l":[]},"m":{"m":{}},"deep":{"m":{"x":{"l":[{"m":{}}]}}}}'
    item = dp.decode_line(line)
    assert item["l"] == {"L": []}
    assert item["m"] == {"M": {}}
    assert item["deep"] == {"M": {"x": {"L": [{"M": {}}]}}}
    assert dp.encode_item_line(item) == line + b"\n"


def test_map_keys_that_look_like_type_keys_are_names_not_types() -> None:
    line = b'{"m":{"m":{"S":{"s":"upper"},"s":{"n":"1"}}}}'
    assert dp.decode_line(line) == {"m": {"M": {"S": {"S": "upper"}, "s": {"N": "1"}}}}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{oops", "line is not valid JSON"),
        (b"[1]", "not a JSON object"),
        (b"{}", "empty JSON object"),
        (b'{"a":"x"}', "'a' must be an object with exactly one type key"),
        (b'{"a":{"s":"x","n":"1"}}', "'a' must be an object with exactly one type key"),
        (b'{"a":{"str":"x"}}', "'a' has unknown type key 'str'"),
        (b'{"a":{"m":{"b":{"l":[{"date":"x"}]}}}}', r"'a.b\[0\]' has unknown type key 'date'"),
        (b'{"a":{"m":{"b":{"b":"not base64!"}}}}', "'a.b' B value is not standard base64"),
        (b'{"a":{"bS":["AAA=="]}}', r"'a\[0\]' B value is not standard base64"),
        (b'{"a":{"sS":[]}}', "'a' SS value must be a non-empty array"),
        (b'{"a":{"nS":["1","1.0"]}}', "'a' NS value has duplicate members"),
        (b'{"a":{"n":"1234567890123456789012345678901234567891"}}', "40 significant digits"),
        (b'{"a":{"n":"1E+126"}}', "out of DynamoDB's range"),
        (b'{"a":{"n":"1E-131"}}', "out of DynamoDB's range"),
        (b'{"a":{"n":12}}', "N value must be a string"),
        (b'{"a":{"m":[]}}', "M value must be an object"),
        (b'{"a":' + b'{"l":[' * 33 + b'{"s":"x"}' + b"]}" * 33 + b"}", "nested more than 32"),
    ],
)
def test_bad_lines_are_corrupt(line: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        dp.decode_line(line)


def test_hostile_nesting_stops_at_the_limit() -> None:
    line = b'{"a":' + b'{"m":{"b":' * 500 + b'{"s":"x"}' + b"}}" * 500 + b"}"
    with pytest.raises(CorruptDataError, match="nested more than 32"):
        dp.decode_line(line)


def test_validation_can_be_skipped() -> None:
    assert dp.decode_line(b'{"a":{"n":"1E+200"}}', validate=False) == {"a": {"N": "1E+200"}}


def test_encoding_a_non_wire_item_is_corrupt() -> None:
    with pytest.raises(CorruptDataError, match="not in DynamoDB wire form"):
        dp.encode_item_line({"a": {"X": "1"}})


# --- Hive-era lines ---


def test_decodes_the_hive_sample() -> None:
    item = dp.decode_hive_line(SAMPLE_HIVE)
    assert item == {"name": {"S": "Alice"}, "city": {"S": "Seattle"}, "visits": {"N": "12"}}
    assert dp.decode_hive_line(SAMPLE_HIVE + b"\r\n") == item
    assert dp.encode_hive_line(item) == SAMPLE_HIVE + b"\n"


def test_hive_values_use_the_same_type_keys_and_keep_empty_containers() -> None:
    line = b'l\x03{"l":[]}\x02m\x03{"M":{"k":{"Ss":["a"]}}}\x02e\x03{"m":{}}'
    assert dp.decode_hive_line(line) == {
        "l": {"L": []},
        "m": {"M": {"k": {"SS": ["a"]}}},
        "e": {"M": {}},
    }


def test_hive_splits_on_the_first_etx_and_values_carry_control_characters() -> None:
    item = {"a.b c": {"S": "x\x02y\x03z"}, "🎉": {"M": {"k\x02\x03": {"S": "\x00"}}}}
    line = dp.encode_hive_line(item)
    assert line.count(b"\x02") == 1  # only the separator: values escape theirs
    assert dp.decode_hive_line(line) == item


@pytest.mark.parametrize("name", ["a\x02b", "a\x03b", "a\nb", "a\rb"])
def test_hive_refuses_names_it_cannot_represent(name: str) -> None:
    with pytest.raises(CorruptDataError, match="cannot represent"):
        dp.encode_hive_line({name: {"S": "x"}})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"", "line is empty"),
        (b'name{"s":"x"}', "attribute 1 of the line has no \\\\x03 separator"),
        (b'a\x03{"s":"x"}\x02b', "attribute 2 of the line has no"),
        (b'a\x03{"s":"x"}\x02a\x03{"s":"y"}', "'a' appears twice"),
        (b"a\x03{oops", "value of attribute 'a' is not valid JSON"),
        (b'\xff\x03{"s":"x"}', "name of attribute 1 is not UTF-8"),
        (b'a\x03{"q":"x"}', "'a' has unknown type key 'q'"),
    ],
)
def test_bad_hive_lines_are_corrupt(line: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        dp.decode_hive_line(line)


# --- manifest ---


def test_parses_the_formats_md_manifest() -> None:
    assert dp.parse_manifest(SAMPLE_MANIFEST, name="manifest") == [
        "s3://bucket/backups/2024-01-01-00-00-00/7f1c6a52-1d8e-4d43-9c59-0e3b2a1f9a11"
    ]


def test_writes_the_manifest_exactly_as_emr_dynamodb_tools_does() -> None:
    url = "s3://bucket/backups/2024-01-01-00-00-00/7f1c6a52-1d8e-4d43-9c59-0e3b2a1f9a11"
    assert dp.manifest_bytes([url]) == SAMPLE_MANIFEST
    two = dp.manifest_bytes(["s3://b/1", "s3://b/2"])
    assert two.splitlines()[2:4] == [
        b'{"url":"s3://b/1","mandatory":true},',
        b'{"url":"s3://b/2","mandatory":true}',
    ]
    assert dp.parse_manifest(two, name="m") == ["s3://b/1", "s3://b/2"]
    assert dp.parse_manifest(dp.manifest_bytes([]), name="m") == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "m is not valid JSON"),
        (b"[]", "m is not a JSON object"),
        (b'{"version":2,"entries":[]}', "m has manifest version 2; only version 3"),
        (b'{"version":"3","entries":[]}', "manifest version '3'; only version 3"),
        (b'{"entries":[]}', "manifest version None; only version 3"),
        (b'{"version":3}', "m has no entries list"),
        (b'{"version":3,"entries":[{"mandatory":true}]}', "m entry 0 has no url"),
    ],
)
def test_bad_manifests_are_corrupt(data: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        dp.parse_manifest(data, name="m")


@pytest.mark.parametrize(
    ("name", "hidden"),
    [
        ("_SUCCESS", True),
        (".part-0.crc", True),
        ("backups/2024/_SUCCESS", True),
        ("7f1c6a52-1d8e-4d43-9c59-0e3b2a1f9a11", False),
        ("backups/_tmp/data", False),
        ("manifest", False),
    ],
)
def test_is_hidden(name: str, hidden: bool) -> None:
    assert dp.is_hidden(name) is hidden
