"""Incremental export records: hand-made samples written to FORMATS.md section 1."""

from __future__ import annotations

import gzip

import pytest

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.formats import native
from ddbmigrate.formats.incremental import (
    Change,
    decode_json_line,
    newest_per_key,
    parse_record,
    to_write_request,
)

KEYS = '{"name":{"S":"Alice"},"city":{"S":"Seattle"}}'
OLD = '{"name":{"S":"Alice"},"city":{"S":"Seattle"},"visits":{"N":"11"}}'
NEW = '{"name":{"S":"Alice"},"city":{"S":"Seattle"},"visits":{"N":"12"},"tags":{"SS":["a","b"]}}'


def meta(micros: int) -> str:
    return f'{{"WriteTimestampMicros":{{"N":"{micros}"}}}}'


PUT = f'{{"Metadata":{meta(1767225600000000)},"Keys":{KEYS},"NewImage":{NEW}}}'
UPDATE = f'{{"Metadata":{meta(1767225600000001)},"Keys":{KEYS},"OldImage":{OLD},"NewImage":{NEW}}}'
DELETE_WITH_OLD = f'{{"Metadata":{meta(1767225600000002)},"Keys":{KEYS},"OldImage":{OLD}}}'
DELETE_KEYS_ONLY = f'{{"Metadata":{meta(1767225600000003)},"Keys":{KEYS}}}'


def test_put_record_becomes_a_put_of_the_new_image() -> None:
    change = decode_json_line(PUT.encode())
    assert change.key == {"name": {"S": "Alice"}, "city": {"S": "Seattle"}}
    assert change.new_image is not None
    assert change.new_image["visits"] == {"N": "12"}  # numbers stay strings
    assert change.timestamp_us == 1767225600000000
    assert not change.is_delete
    assert to_write_request(change) == {"PutRequest": {"Item": change.new_image}}


def test_update_record_keeps_the_new_image_and_ignores_the_old() -> None:
    change = decode_json_line(UPDATE.encode())
    assert change.new_image is not None
    assert change.new_image["tags"] == {"SS": ["a", "b"]}
    assert to_write_request(change)["PutRequest"]["Item"]["visits"] == {"N": "12"}


@pytest.mark.parametrize("line", [DELETE_WITH_OLD, DELETE_KEYS_ONLY], ids=["old-image", "keys"])
def test_delete_record_becomes_a_delete_of_its_keys(line: str) -> None:
    change = decode_json_line(line.encode())
    assert change.is_delete
    assert change.new_image is None
    assert to_write_request(change) == {
        "DeleteRequest": {"Key": {"name": {"S": "Alice"}, "city": {"S": "Seattle"}}}
    }


def test_lines_read_from_gzip_files_decode_like_plain_ones() -> None:
    data = gzip.compress(f"{PUT}\n\n{DELETE_KEYS_ONLY}\n".encode(), mtime=0)
    lines = list(native.iter_raw_lines(data, compressed=True))
    changes = [decode_json_line(line) for _, line in lines]
    assert [n for n, _ in lines] == [1, 3]
    assert [c.is_delete for c in changes] == [False, True]


def change(name: str, micros: int, *, visits: str | None = "1") -> Change:
    key = {"name": {"S": name}, "city": {"S": "Oslo"}}
    image = None if visits is None else {**key, "visits": {"N": visits}}
    return Change(key=key, new_image=image, timestamp_us=micros)


def test_same_key_in_two_files_keeps_the_newest_write() -> None:
    first_file = [change("a", 200, visits="2"), change("b", 100)]
    second_file = [change("a", 100, visits="1"), change("c", 300), change("b", 150, visits=None)]
    newest = newest_per_key(first_file + second_file)
    by_name = {c.key["name"]["S"]: c for c in newest}
    assert by_name["a"] is first_file[0]  # older write in the later file loses
    assert by_name["b"].is_delete  # a later delete wins over a put
    assert [c.key["name"]["S"] for c in newest] == ["a", "b", "c"]  # first-appearance order


def test_equal_timestamps_keep_the_later_record() -> None:
    earlier, later = change("a", 500, visits="1"), change("a", 500, visits="2")
    assert newest_per_key([earlier, later]) == [later]
    assert newest_per_key([later, earlier]) == [earlier]


def test_keys_spelled_differently_are_the_same_key() -> None:
    one = Change(key={"id": {"N": "1.0"}}, new_image=None, timestamp_us=1)
    two = Change(key={"id": {"N": "1"}}, new_image={"id": {"N": "1"}}, timestamp_us=2)
    assert newest_per_key([one, two]) == [two]


def test_number_key_spelled_differently_in_the_image_is_accepted() -> None:
    record = {
        "Metadata": {"WriteTimestampMicros": {"N": "7"}},
        "Keys": {"id": {"N": "1.50"}},
        "NewImage": {"id": {"N": "1.5"}, "x": {"S": "y"}},
    }
    assert parse_record(record).new_image == {"id": {"N": "1.5"}, "x": {"S": "y"}}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'["a"]', "not a JSON object"),
        (f'{{"Item":{NEW}}}'.encode(), "full export"),
        (f'{{"Metadata":{meta(1)},"NewImage":{NEW}}}'.encode(), "no Keys"),
        (f'{{"Metadata":{meta(1)},"Keys":{{}}}}'.encode(), "no Keys"),
        (f'{{"Keys":{KEYS}}}'.encode(), "no Metadata.WriteTimestampMicros"),
        (
            f'{{"Metadata":{{"WriteTimestampMicros":{{"N":"1.5"}}}},"Keys":{KEYS}}}'.encode(),
            "Write",
        ),
        (f'{{"Metadata":{{"WriteTimestampMicros":{{"S":"1"}}}},"Keys":{KEYS}}}'.encode(), "Write"),
        (
            f'{{"Metadata":{meta(1)},"Keys":{KEYS},"NewImage":{{"name":{{"S":"Alice"}}}}}}'.encode(),
            "NewImage lacks key attribute 'city'",
        ),
        (
            f'{{"Metadata":{meta(1)},"Keys":{KEYS},'
            '"NewImage":{"name":{"S":"Bob"},"city":{"S":"Seattle"}}}'.encode(),
            "NewImage has another value for key attribute 'name'",
        ),
        (f'{{"Metadata":{meta(1)},"Keys":{KEYS},"NewImage":"x"}}'.encode(), "NewImage is not"),
        (f'{{"Metadata":{meta(1)},"Keys":{KEYS},"OldImage":[]}}'.encode(), "OldImage is not"),
        (
            f'{{"Metadata":{meta(1)},"Keys":{{"k":{{"BOOL":true}}}}}}'.encode(),
            "key attribute 'k' has type BOOL",
        ),
        (f'{{"Metadata":{meta(1)},"Keys":{{"k":{{"S":""}}}}}}'.encode(), "'k' is empty"),
        (f'{{"Metadata":{meta(1)},"Keys":{{"k":{{"N":"x"}}}}}}'.encode(), "Keys: attribute 'k'"),
        (
            f'{{"Metadata":{meta(1)},"Keys":{KEYS},"NewImage":'
            '{"name":{"S":"Alice"},"city":{"S":"Seattle"},"s":{"SS":[]}}}'.encode(),
            "NewImage: attribute 's'",
        ),
    ],
    ids=[
        "not-json",
        "not-object",
        "full-export-line",
        "no-keys",
        "empty-keys",
        "no-metadata",
        "fractional-timestamp",
        "timestamp-not-n",
        "image-lacks-key",
        "image-key-differs",
        "image-not-object",
        "old-image-not-object",
        "key-not-scalar",
        "empty-key",
        "bad-number-key",
        "bad-image-value",
    ],
)
def test_malformed_records_say_what_is_wrong(line: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        decode_json_line(line)


def test_parse_record_without_validation_skips_image_checks_but_not_keys() -> None:
    record = {
        "Metadata": {"WriteTimestampMicros": {"N": "3"}},
        "Keys": {"id": {"S": "x"}},
        "NewImage": {"id": {"S": "x"}, "s": {"SS": []}},
    }
    assert parse_record(record, validate=False).new_image is not None
    with pytest.raises(CorruptDataError, match="no Keys"):
        parse_record({**record, "Keys": {}}, validate=False)
