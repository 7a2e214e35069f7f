"""formats/ion.py: DynamoDB's ION export lines, AWS's samples, numbers, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.formats import ion

# FORMATS.md section 1, byte for byte.
SAMPLE_LINE = (
    b'$ion_1_0 {Item:{name:"Alice",city:"Seattle",visits:12.,'
    b'tags:$dynamodb_SS::["a","b"],avatar:{{AAEC}}}}\n'
)
SAMPLE_ITEM = {
    "name": {"S": "Alice"},
    "city": {"S": "Seattle"},
    "visits": {"N": "12"},
    "tags": {"SS": ["a", "b"]},
    "avatar": {"B": "AAEC"},
}

# AWS's developer guide example, pretty-printed "for readability" as the guide prints it.
AWS_GUIDE_DOCUMENT = b"""$ion_1_0 {
    Item:{
        Authors:$dynamodb_SS::["Author1","Author2"],
        Dimensions:"8.5 x 11.0 x 1.5",
        ISBN:"333-3333333333",
        Id:103.,
        InPublication:false,
        PageCount:6d2,
        Price:2d3,
        ProductCategory:"Book",
        Title:"Book 103 Title"
    }
}
"""


def test_decodes_the_formats_md_sample_item_by_item() -> None:
    item = ion.decode_item_line(SAMPLE_LINE)
    assert item == SAMPLE_ITEM
    assert list(item) == list(SAMPLE_ITEM)


def test_encodes_the_formats_md_sample_byte_for_byte() -> None:
    assert ion.encode_item_line(SAMPLE_ITEM) == SAMPLE_LINE


def test_reads_the_aws_guide_document() -> None:
    [(number, item)] = list(ion.iter_ion_items(AWS_GUIDE_DOCUMENT))
    assert number == 1
    assert item["Authors"] == {"SS": ["Author1", "Author2"]}
    assert item["Id"] == {"N": "103"}
    assert item["InPublication"] == {"BOOL": False}
    assert item["PageCount"] == {"N": "600"}
    assert item["Price"] == {"N": "2000"}
    assert item["Dimensions"] == {"S": "8.5 x 11.0 x 1.5"}


def test_every_type_has_its_ion_form() -> None:
    item = {
        "s": {"S": "x"},
        "n": {"N": "-1.5"},
        "b": {"B": "AAE="},
        "ss": {"SS": ["a"]},
        "ns": {"NS": ["1", "2.5"]},
        "bs": {"BS": ["AA==", ""]},
        "m": {"M": {"k": {"NULL": True}}},
        "l": {"L": [{"BOOL": True}, {"L": []}, {"M": {}}]},
        "f": {"BOOL": False},
    }
    line = ion.encode_item_line(item)
    assert line == (
        b'$ion_1_0 {Item:{s:"x",n:-1.5,b:{{AAE=}},ss:$dynamodb_SS::["a"],'
        b"ns:$dynamodb_NS::[1.,2.5],bs:$dynamodb_BS::[{{AA==}},{{}}],m:{k:null},"
        b"l:[true,[],{}],f:false}}\n"
    )
    assert ion.decode_item_line(line) == {**item, "n": {"N": "-1.5"}}


# --- numbers ---


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("12", "12."),
        ("1.50", "1.50"),
        ("0.005", "0.005"),
        ("-0", "-0."),
        ("+7", "7."),
        ("1E-130", "1d-130"),
        ("1e5", "1d5"),
        ("-1.5E+3", "-15d2"),
        (
            "9.9999999999999999999999999999999999999E+125",
            "99999999999999999999999999999999999999d88",
        ),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678."),
    ],
)
def test_ion_decimal_keeps_digits_and_exponent(text: str, literal: str) -> None:
    assert ion.ion_decimal(text) == literal
    assert Decimal(literal.replace("d", "E").rstrip(".")) == Decimal(text)


@pytest.mark.parametrize(
    ("literal", "text"),
    [
        ("12.", "12"),
        ("12", "12"),  # an Ion int, from writers other than AWS
        ("1.50", "1.5"),
        ("6d2", "600"),
        ("-0.", "0"),
        ("0d-5", "0"),
        ("1d-130", "1E-130"),
        ("0.0000001", "1E-7"),
        (
            "9.9999999999999999999999999999999999999d125",
            "9.9999999999999999999999999999999999999E+125",
        ),
        ("12345678901234567890123456789012345678.", "12345678901234567890123456789012345678"),
        ("-0.12345678901234567890123456789012345678", "-0.12345678901234567890123456789012345678"),
        ("1" + "0" * 39 + ".", "1E+39"),
    ],
)
def test_ion_numbers_become_exact_n_texts(literal: str, text: str) -> None:
    item = ion.decode_item_line(f"$ion_1_0 {{Item:{{n:{literal}}}}}".encode())
    assert item == {"n": {"N": text}}


# --- names and strings ---


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("name", b"name"),
        ("_x1", b"_x1"),
        ("a.b", b"'a.b'"),
        ("a b", b"'a b'"),
        ("null", b"'null'"),
        ("$5", b"'$5'"),
        ("$ion_1_0", b"'$ion_1_0'"),
        ("it's", b"'it\\'s'"),
        ("🎉", "'🎉'".encode()),
    ],
)
def test_attribute_names_are_quoted_when_they_must_be(name: str, symbol: bytes) -> None:
    line = ion.encode_item_line({name: {"S": "v"}})
    assert line == b"$ion_1_0 {Item:{" + symbol + b':"v"}}\n'
    assert ion.decode_item_line(line) == {name: {"S": "v"}}


def test_strings_escape_control_characters() -> None:
    text = 'a\x00\x02\x03\n\t\x7f"\\\u2028é'
    line = ion.encode_item_line({"s": {"S": text}})
    assert b'"a\\x00\\x02\\x03\\x0a\\x09\\x7f\\"\\\\' in line
    assert b"\n" not in line[:-1]
    assert ion.decode_item_line(line) == {"s": {"S": text}}


# --- files ---


def test_marker_on_every_line() -> None:
    data = SAMPLE_LINE + b"\n" + b'$ion_1_0 {Item:{name:"Bob"}}\n'
    assert [n for n, _ in ion.iter_ion_items(data)] == [1, 3]


def test_marker_once_at_the_top() -> None:
    data = b"$ion_1_0\n{Item:{a:1.}}\n{Item:{a:2.}}\n"
    assert list(ion.iter_ion_items(data)) == [(2, {"a": {"N": "1"}}), (3, {"a": {"N": "2"}})]
    data = b"$ion_1_0 {Item:{a:1.}}\n{Item:{a:2.}}"
    assert list(ion.iter_ion_items(data)) == [(1, {"a": {"N": "1"}}), (2, {"a": {"N": "2"}})]


def test_a_top_level_list_of_items_is_unrolled() -> None:
    data = b"$ion_1_0 [{Item:{a:1.}},{Item:{a:2.}}]\n"
    assert [item for _, item in ion.iter_ion_items(data)] == [{"a": {"N": "1"}}, {"a": {"N": "2"}}]


def test_empty_file_has_no_items() -> None:
    assert list(ion.iter_ion_items(b"")) == []
    assert list(ion.iter_ion_items(b"$ion_1_0\n\n")) == []


def test_bad_line_is_named_by_number() -> None:
    data = b"$ion_1_0 {Item:{a:1.}}\n$ion_1_0 {Item:{a:\n"
    with pytest.raises(CorruptDataError, match=r"^line 2: not valid Ion"):
        list(ion.iter_ion_items(data))
    data = b"$ion_1_0 {Item:{a:1.}}\n$ion_1_0 {Item:{a:1e0}}\n"
    with pytest.raises(CorruptDataError, match=r"^line 2: attribute 'a' is an Ion float"):
        list(ion.iter_ion_items(data))


def test_bad_value_in_a_multi_line_document_is_named_by_ordinal() -> None:
    data = b"$ion_1_0 {\nItem:{a:1.}\n}\n{\nItem:{a:1e0}}\n"
    with pytest.raises(CorruptDataError, match=r"^line 1, value 2 of a multi-line document"):
        list(ion.iter_ion_items(data))


# --- incremental records ---


def test_decode_record_converts_every_member() -> None:
    line = (
        b"$ion_1_0 {Metadata:{WriteTimestampMicros:1767225600000000.},"
        b'Keys:{name:"Alice",city:"Seattle"},OldImage:{name:"Alice",city:"Seattle",v:1.},'
        b'NewImage:{name:"Alice",city:"Seattle",v:2.,l:[]}}'
    )
    record = ion.decode_record(line)
    assert record == {
        "Metadata": {"WriteTimestampMicros": {"N": "1767225600000000"}},
        "Keys": {"name": {"S": "Alice"}, "city": {"S": "Seattle"}},
        "OldImage": {"name": {"S": "Alice"}, "city": {"S": "Seattle"}, "v": {"N": "1"}},
        "NewImage": {
            "name": {"S": "Alice"},
            "city": {"S": "Seattle"},
            "v": {"N": "2"},
            "l": {"L": []},
        },
    }
    assert ion.decode_record(ion.encode_record_line(record)) == record


def test_decode_record_of_a_full_export_line() -> None:
    assert ion.decode_record(SAMPLE_LINE) == {"Item": SAMPLE_ITEM}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1.]", "not one Ion struct"),
        (b"{Keys:[1.]}", "record field 'Keys' is not a struct"),
        (b"{NewImage:{a:1e0}}", "NewImage: attribute 'a' is an Ion float"),
    ],
)
def test_bad_records(line: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        ion.decode_record(line)


# --- bad input ---


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{Item:{a:", "not valid Ion"),
        (b"{Item:{a:1.}} {Item:{a:2.}}", "holds 2 Ion values"),
        (b"[1.]", r"not an Ion \{Item"),
        (b"{Keys:{a:1.}}", "an incremental export record"),
        (b"{Item:[]}", "Item field is not an Ion struct"),
        (b"{Item:{a:1.5e0}}", "'a' is an Ion float"),
        (b"{Item:{a:2024-01-01T}}", "'a' is an Ion timestamp"),
        (b"{Item:{a:sym}}", "'a' is an Ion symbol"),
        (b"{Item:{a:(1 2)}}", "'a' is an Ion sexp"),
        (b'{Item:{a:{{"clob"}}}}', "'a' is an Ion clob"),
        (b"{Item:{a:1.,a:2.}}", "'a' appears twice"),
        (b"{Item:{m:{b:1.,b:2.}}}", "'m.b' appears twice"),
        (b"{Item:{a:other::[1.]}}", "annotations"),
        (b'{Item:{a:$dynamodb_SS::"x"}}', "annotations"),
        (b"{Item:{a:$dynamodb_SS::[1.]}}", r"'a\[0\]' is a N inside a SS"),
        (b'{Item:{a:$dynamodb_NS::["1"]}}', r"'a\[0\]' is a S inside a NS"),
        (b"{Item:{a:$dynamodb_SS::[]}}", "'a' SS value must be a non-empty array"),
        (b'{Item:{a:$dynamodb_SS::["x","x"]}}', "'a' SS value has duplicate members"),
        (b"{Item:{a:$dynamodb_NS::[1.,1.0]}}", "'a' NS value has duplicate members"),
        (b"{Item:{a:1234567890123456789012345678901234567891.}}", "40 significant digits"),
        (b"{Item:{a:1d126}}", "out of DynamoDB's range"),
        (b"{Item:{a:1d-131}}", "out of DynamoDB's range"),
        (b"{Item:{a:" + b"[" * 33 + b"]" * 33 + b"}}", "nested more than 32 levels"),
    ],
)
def test_bad_lines_are_corrupt(line: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        ion.decode_item_line(line)


def test_hostile_nesting_stops_at_the_limit() -> None:
    with pytest.raises(CorruptDataError, match="nested more than 32"):
        ion.decode_item_line(b"{Item:{a:" + b"{b:" * 500 + b"1." + b"}" * 500 + b"}}")


def test_validation_can_be_skipped() -> None:
    assert ion.decode_item_line(b"{Item:{a:1d200}}", validate=False) == {"a": {"N": "1E+200"}}


def test_encoding_a_non_wire_item_is_corrupt() -> None:
    with pytest.raises(CorruptDataError, match="not in DynamoDB wire form"):
        ion.encode_item_line({"a": {"X": "1"}})
    with pytest.raises(CorruptDataError, match="not in DynamoDB wire form"):
        ion.encode_item_line({"a": {"N": "abc"}})
