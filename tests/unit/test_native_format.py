"""formats/native.py: item lines, data parts, manifests, export ids, key resolution."""

from __future__ import annotations

import base64
import gzip
import hashlib
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_strategies import items

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.formats import native
from ddbmigrate.model import Item, PartInfo

SAMPLE_LINE = (
    b'{"Item":{"name":{"S":"Alice"},"city":{"S":"Seattle"},"visits":{"N":"12"},'
    b'"tags":{"SS":["a","b"]},"avatar":{"B":"AAEC"},"prefs":{"M":{"dark":{"BOOL":true}}},'
    b'"history":{"L":[{"N":"1"},{"NULL":true}]}}}\n'
)


# --- item lines ---


def test_decodes_the_formats_md_example() -> None:
    item = native.decode_item_line(SAMPLE_LINE)
    assert item["avatar"] == {"B": "AAEC"}
    assert item["history"] == {"L": [{"N": "1"}, {"NULL": True}]}
    assert native.encode_item_line(item) == SAMPLE_LINE


@given(item=items)
def test_item_line_round_trip_is_byte_exact(item: Item) -> None:
    line = native.encode_item_line(item)
    decoded = native.decode_item_line(line)
    assert orjson.dumps({"Item": decoded}) + b"\n" == line
    assert decoded == item


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not an"),
        (b'{"Keys": {}, "NewImage": {}}', "incremental"),
        (b'{"Item": []}', "not an"),
        (b'{"Item": {"a": {"N": 1}}}', "'a' N value must be a string"),
    ],
)
def test_bad_lines_are_corrupt(line: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        native.decode_item_line(line)


def test_validation_can_be_skipped() -> None:
    assert native.decode_item_line(b'{"Item": {"a": {"N": 1}}}', validate=False) == {"a": {"N": 1}}


def test_error_message_does_not_quote_item_content() -> None:
    with pytest.raises(CorruptDataError) as info:
        native.decode_item_line(b'{"Item": {"password": {"S": 12345}}}')
    assert "12345" not in str(info.value)


# --- parts ---


@settings(max_examples=50)
@given(batch=st.lists(items, max_size=30), compression=st.sampled_from(["gzip", "none"]))
def test_part_round_trip_preserves_order_count_and_md5(batch: list[Item], compression: str) -> None:
    writer = native.PartWriter(compression=compression)  # type: ignore[arg-type]
    for item in batch:
        writer.add(item)
    data, count, md5 = writer.finish()
    assert count == len(batch) == writer.item_count
    assert md5 == base64.b64encode(hashlib.md5(data).digest()).decode()
    lines = list(native.iter_part_lines(data, compressed=compression == "gzip"))
    assert [item for _, item in lines] == batch
    assert [n for n, _ in lines] == list(range(1, len(batch) + 1))


def test_part_is_standard_gzip_and_deterministic() -> None:
    def build() -> tuple[bytes, int, str]:
        writer = native.PartWriter()
        writer.add({"a": {"S": "x"}})
        return writer.finish()

    first, second = build(), build()
    assert first == second
    assert gzip.decompress(first[0]) == b'{"Item":{"a":{"S":"x"}}}\n'
    assert native.PartWriter().suffix == ".json.gz"
    assert native.PartWriter(compression="none").suffix == ".json"


def test_finish_is_idempotent_and_add_after_finish_fails() -> None:
    writer = native.PartWriter(level=9)
    writer.add({"a": {"S": "x"}})
    assert writer.finish() == writer.finish()
    assert writer.raw_bytes == len(b'{"Item":{"a":{"S":"x"}}}\n')
    with pytest.raises(RuntimeError):
        writer.add({"a": {"S": "y"}})


def test_empty_part() -> None:
    data, count, _ = native.PartWriter().finish()
    assert count == 0
    assert list(native.iter_part_lines(data, compressed=True)) == []


def test_blank_lines_are_skipped_but_counted() -> None:
    data = b'\n{"Item":{"a":{"S":"x"}}}\r\n\n  \n{"Item":{"a":{"S":"y"}}}'
    lines = list(native.iter_part_lines(data, compressed=False))
    assert lines == [(2, {"a": {"S": "x"}}), (5, {"a": {"S": "y"}})]


def test_bad_line_names_its_number() -> None:
    data = gzip.compress(b'{"Item":{"a":{"S":"x"}}}\n{oops\n')
    with pytest.raises(CorruptDataError, match=r"^line 2: "):
        list(native.iter_part_lines(data, compressed=True))


def test_raw_lines_let_callers_skip_bad_lines() -> None:
    data = b'{oops\n{"Item":{"a":{"S":"y"}}}\n'
    assert [n for n, _ in native.iter_raw_lines(data, compressed=False)] == [1, 2]


# mtime=0 and ids: gzip's header holds a time, and parallel test processes must collect
# the same test names.
@pytest.mark.parametrize(
    "data",
    [b"not gzip at all", gzip.compress(b"x" * 100, mtime=0)[:-10]],
    ids=["not-gzip", "truncated"],
)
def test_damaged_gzip_is_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptDataError, match="gzip"):
        list(native.iter_part_lines(data, compressed=True))


# --- manifests ---


def test_md5_b64_matches_hashlib() -> None:
    assert native.md5_b64(b"") == "1B2M2Y8AsgTpgAmY7PhCfg=="


def _summary(**changes: object) -> native.ExportSummary:
    fields: dict[str, object] = {
        "export_arn": "arn:aws:dynamodb:us-east-1:111111111111:table/customer/export/01-ab",
        "start_time": "2026-01-01T00:00:00.000Z",
        "end_time": "2026-01-01T00:05:00.000Z",
        "export_time": "2026-01-01T00:00:00.000Z",
        "table_arn": "arn:aws:dynamodb:us-east-1:111111111111:table/customer",
        "table_id": "t-1",
        "s3_bucket": "bucket-in-b",
        "s3_prefix": "migrations",
        "manifest_files_s3_key": "migrations/AWSDynamoDB/01-ab/manifest-files.json",
        "item_count": 3,
        **changes,
    }
    return native.ExportSummary(**fields)  # type: ignore[arg-type]


def test_summary_writes_aws_field_names_in_order() -> None:
    record = orjson.loads(native.manifest_summary(_summary()))
    assert list(record) == [
        "version",
        "exportArn",
        "startTime",
        "endTime",
        "tableArn",
        "tableId",
        "exportTime",
        "s3Bucket",
        "s3Prefix",
        "s3SseAlgorithm",
        "s3SseKmsKeyId",
        "manifestFilesS3Key",
        "billedSizeBytes",
        "itemCount",
        "outputFormat",
        "exportType",
    ]
    assert record["version"] == "2020-06-30"
    assert record["outputFormat"] == "DYNAMODB_JSON"
    assert record["exportType"] == "FULL_EXPORT"
    assert record["s3SseKmsKeyId"] is None


def test_summary_round_trip() -> None:
    summary = _summary(billed_size_bytes=10)
    assert native.ExportSummary.from_json(summary.to_json()) == summary


def test_summary_reads_aws_example_without_export_type_and_with_extras() -> None:
    record = orjson.loads(_summary().to_json())
    del record["exportType"]
    record["somethingNew"] = {"x": 1}
    summary = native.ExportSummary.from_json(orjson.dumps(record))
    assert summary.export_type == "FULL_EXPORT"
    assert not summary.is_incremental
    assert summary.item_count == 3


def test_incremental_summary_fields() -> None:
    summary = _summary(
        version="2023-08-01",
        export_type="INCREMENTAL_EXPORT",
        export_from_time="a",
        export_to_time="b",
        output_view="NEW_IMAGE",
    )
    record = orjson.loads(summary.to_json())
    assert record["outputView"] == "NEW_IMAGE"
    assert native.ExportSummary.from_json(summary.to_json()).is_incremental


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"itemCount": 1}', "no manifestFilesS3Key"),
        (b'{"manifestFilesS3Key": "k", "itemCount": "x"}', "itemCount"),
    ],
)
def test_bad_summary_is_corrupt(data: bytes, message: str) -> None:
    with pytest.raises(CorruptDataError, match=message):
        native.ExportSummary.from_json(data)


def test_manifest_files_lines() -> None:
    md5 = native.md5_b64(b"abc")
    parts = [
        PartInfo(key="data/a.json.gz", item_count=2, md5_b64=md5, size=3),
        PartInfo(key="data/b.json.gz", item_count=0, md5_b64=md5, size=3),
    ]
    data = native.manifest_files(parts, data_key_prefix="migrations/AWSDynamoDB/01-ab")
    first = orjson.loads(data.splitlines()[0])
    assert first == {
        "itemCount": 2,
        "md5Checksum": md5,
        "etag": hashlib.md5(b"abc").hexdigest(),
        "dataFileS3Key": "migrations/AWSDynamoDB/01-ab/data/a.json.gz",
    }
    entries = native.parse_manifest_files(data)
    assert [(e.data_file_s3_key, e.item_count, e.md5_checksum) for e in entries] == [
        ("migrations/AWSDynamoDB/01-ab/data/a.json.gz", 2, md5),
        ("migrations/AWSDynamoDB/01-ab/data/b.json.gz", 0, md5),
    ]
    assert native.manifest_files_line(parts[0], data_key_prefix="").endswith(
        b'"dataFileS3Key":"data/a.json.gz"}\n'
    )


def test_parse_manifest_files_tolerates_missing_etag_and_blank_lines() -> None:
    data = b'\n{"itemCount":1,"md5Checksum":"x","dataFileS3Key":"k"}\n\n'
    assert native.parse_manifest_files(data) == [
        native.ManifestEntry(data_file_s3_key="k", item_count=1, md5_checksum="x")
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"itemCount":1}', "line 2 has no dataFileS3Key"),
        (b'{"dataFileS3Key":"k","itemCount":-1}', "line 2 has no valid itemCount"),
        (b'{"dataFileS3Key":"k","itemCount":true}', "itemCount"),
        (b"nope", "line 2 is not valid JSON"),
    ],
)
def test_bad_manifest_files_line_is_corrupt(line: bytes, message: str) -> None:
    data = b'{"itemCount":1,"dataFileS3Key":"k"}\n' + line
    with pytest.raises(CorruptDataError, match=message):
        native.parse_manifest_files(data)


@pytest.mark.parametrize(
    ("key", "export_dir", "expected"),
    [
        ("migrations/AWSDynamoDB/01-ab/data/x.json.gz", "AWSDynamoDB/01-ab", "data/x.json.gz"),
        ("AWSDynamoDB/01-ab/data/x.json.gz", "AWSDynamoDB/01-ab", "data/x.json.gz"),
        ("old/place/AWSDynamoDB/01-ab/data/x.json.gz", "new/AWSDynamoDB/01-ab", "data/x.json.gz"),
        ("copied/export/data/x.json.gz", "copied/export", "data/x.json.gz"),
        ("elsewhere/data/x.json.gz", "copied/export", "data/x.json.gz"),
        ("data/x.json.gz", "", "data/x.json.gz"),
        ("/AWSDynamoDB/01-ab/data/x.json.gz", "", "data/x.json.gz"),
        ("x.json.gz", "AWSDynamoDB/01-ab", "x.json.gz"),
    ],
)
def test_resolve_data_key(key: str, export_dir: str, expected: str) -> None:
    assert native.resolve_data_key(key, export_dir=export_dir) == expected


def test_resolve_data_key_refuses_to_climb_out() -> None:
    with pytest.raises(CorruptDataError, match="outside the export folder"):
        native.resolve_data_key("AWSDynamoDB/01-ab/data/../../../etc/passwd", export_dir="")


# --- ids ---


def test_export_id_has_aws_shape() -> None:
    export_id = native.new_export_id(1_700_000_000_000, random.Random(1))
    assert len(export_id) == len("01700000000000-abcd1234")
    stamp, _, suffix = export_id.partition("-")
    assert stamp == "01700000000000"
    assert len(suffix) == 8
    int(suffix, 16)
    assert native.new_export_id(5, random.Random(1)).startswith("00000000000005-")
    assert native.new_export_id(1) != native.new_export_id(1)


def test_export_arn() -> None:
    assert native.export_arn("arn:t", "01-ab") == "arn:t/export/01-ab"
