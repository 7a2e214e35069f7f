"""Bad input, end to end: ``ddbmigrate import`` run in-process against moto.

Every case asserts the message (file, line or item index, reason), the exit code, what the
run's rejects file (``ddbmigrate/runs/<run-id>/rejects/rejects.jsonl`` beside SOURCE)
recorded, and that nothing known to be wrong reached the table. Damaged lines and files are
rejects (exit code 1 once the run ends or passes ``--max-rejects``); a source that cannot be
read as a whole (a manifest of another version, a listed file missing from a Data Pipeline
backup) stops before a run starts (exit code 1, no rejects file); a bad flag is exit code 2.
All samples are written by hand in local tmp dirs.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from dynamo_stub import DynamoStub, Reply, error, ok

from ddbmigrate.aws.dynamodb import DynamoTableReader, DynamoTableWriter
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.cli.app import main
from ddbmigrate.cli.exit_codes import ExitCode, exit_code_for
from ddbmigrate.config import Side
from ddbmigrate.errors import RejectedItemError, TransientError
from ddbmigrate.formats.detect import detect
from ddbmigrate.importer import ImportOptions, import_source
from ddbmigrate.local.env import DEST_ROLE, LocalAWS
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.model import Item, KeyAttribute, KeySchema, Segment
from ddbmigrate.retry import RetryPolicy
from ddbmigrate.runs import RejectLog, RejectsError
from ddbmigrate.stores import LocalStore
from ddbmigrate.testing import FakeClock
from tables import make_customer_table

pytestmark = pytest.mark.integration


@pytest.fixture
def aws(moto_server: MotoServer, aws_env: None) -> LocalAWS:
    """The embedded AWS; these tests need only the destination account's DynamoDB."""
    return LocalAWS(endpoint_url=moto_server.endpoint_url)


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


class Importer:
    """Runs ``ddbmigrate import SOURCE --table T ...`` in-process, as the CLI does."""

    def __init__(self, aws: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
        self.aws = aws
        self.capsys = capsys

    def new_table(self) -> str:
        table = f"bad-input-{uuid.uuid4().hex[:8]}"
        return make_customer_table(self.aws, table, role=DEST_ROLE)

    def run(self, source: Path, table: str, *extra: str) -> Outcome:
        self.capsys.readouterr()  # only this run's output
        code = main(
            [
                "import",
                str(source),
                "--table",
                table,
                "--dest-role-arn",
                DEST_ROLE,
                "--dest-endpoint-url",
                self.aws.endpoint_url,
                "--dest-region",
                LOCAL_REGION,
                "--progress",
                "off",
                *extra,
            ]
        )
        captured = self.capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    def names(self, table: str) -> set[str]:
        """The partition keys the table holds."""
        reader = DynamoTableReader(WireClient(SideSession(self.aws.dest)), table)
        found: set[str] = set()
        start: Item | None = None
        while True:
            page = reader.scan(segment=Segment(0, 1), start_key=start, consistent=True)
            found |= {item["name"]["S"] for item in page.items}
            start = page.last_key
            if start is None:
                return found


@pytest.fixture
def importer(aws: LocalAWS, capsys: pytest.CaptureFixture[str]) -> Importer:
    return Importer(aws, capsys)


def rejects_of(root: Path) -> list[dict[str, Any]]:
    """The rejects file of the one run recorded under ``root``."""
    found = list(root.glob("ddbmigrate/runs/*/rejects/rejects.jsonl"))
    assert len(found) == 1, found
    return [orjson.loads(line) for line in found[0].read_bytes().splitlines()]


def no_run_under(root: Path) -> bool:
    return not (root / "ddbmigrate").exists()


def error_line(err: str) -> str:
    return next(line for line in err.splitlines() if line.startswith("error: "))


def hint_line(err: str) -> str:
    return next(line for line in err.splitlines() if line.startswith("hint: "))


def lines(*records: str | bytes) -> bytes:
    return b"".join((r.encode() if isinstance(r, str) else r) + b"\n" for r in records)


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def copy_of(source: Path, where: Path) -> Path:
    """A fresh copy of a sample (a run leaves its ledger beside SOURCE)."""
    shutil.copytree(source, where)
    return where


# --- good lines in each format ----------------------------------------------------------------


def good(fmt: str, name: str) -> str:
    if fmt == "datapipeline":
        return f'{{"name":{{"s":"{name}"}},"city":{{"s":"Oslo"}},"v":{{"n":"1"}}}}'
    if fmt == "native-ion":
        return f'$ion_1_0 {{Item:{{name:"{name}",city:"Oslo",v:1.}}}}'
    return f'{{"Item":{{"name":{{"S":"{name}"}},"city":{{"S":"Oslo"}},"v":{{"N":"1"}}}}}}'


FILE_NAMES = {
    "datapipeline": "7f1c6a52-1d8e-4d43-9c59-0e3b2a1f9a11",
    "native-json": "part-00000.json",
    "native-ion": "part-00000.ion",
}


@dataclass(frozen=True)
class BadLine:
    fmt: str
    line: str
    reason: str
    """The whole reason the tool must give (``...`` stands for a parser's own words)."""


BAD_LINES = {
    "not JSON (Data Pipeline)": BadLine(
        "datapipeline",
        '{"name":{"s":"bad"},"city":{"s":"Oslo"},"v":{"n":"1"}',
        "line is not valid JSON (...)",
    ),
    "not JSON (native)": BadLine(
        "native-json", '{"Item":{"name":{"S":"bad"},"city"', "line is not valid JSON (...)"
    ),
    "unknown type key (Data Pipeline)": BadLine(
        "datapipeline",
        '{"name":{"s":"bad"},"city":{"s":"Oslo"},"v":{"q":"1"}}',
        "attribute 'v' has unknown type key 'q' (expected one of s n b sS nS bS m l nULL bOOL)",
    ),
    "unknown type key (native)": BadLine(
        "native-json",
        '{"Item":{"name":{"S":"bad"},"city":{"S":"Oslo"},"v":{"M":{"w":{"Q":"1"}}}}}',
        "attribute 'v.w' has unknown type key 'Q' (expected one of B BOOL BS L M N NS NULL S SS)",
    ),
    "invalid base64 (Data Pipeline)": BadLine(
        "datapipeline",
        '{"name":{"s":"bad"},"city":{"s":"Oslo"},"avatar":{"b":"not base64!"}}',
        "attribute 'avatar' B value is not standard base64",
    ),
    "invalid base64 (native, in a list)": BadLine(
        "native-json",
        '{"Item":{"name":{"S":"bad"},"city":{"S":"Oslo"},"h":{"L":[{"N":"1"},{"B":"QUJD="}]}}}',
        "attribute 'h[1]' B value is not standard base64 (bad length or padding)",
    ),
    "empty set (Data Pipeline)": BadLine(
        "datapipeline",
        '{"name":{"s":"bad"},"city":{"s":"Oslo"},"tags":{"sS":[]}}',
        "attribute 'tags' SS value must be a non-empty array",
    ),
    "empty set (native)": BadLine(
        "native-json",
        '{"Item":{"name":{"S":"bad"},"city":{"S":"Oslo"},"scores":{"NS":[]}}}',
        "attribute 'scores' NS value must be a non-empty array",
    ),
    "39 digits (native)": BadLine(
        "native-json",
        '{"Item":{"name":{"S":"bad"},"city":{"S":"Oslo"},'
        '"big":{"N":"123456789012345678901234567890123456789"}}}',
        "attribute 'big' N value has 39 significant digits (DynamoDB allows at most 38)",
    ),
    "39 digits (Data Pipeline, number set)": BadLine(
        "datapipeline",
        '{"name":{"s":"bad"},"city":{"s":"Oslo"},'
        '"ns":{"nS":["1","1.23456789012345678901234567890123456789"]}}',
        "attribute 'ns[1]' N value has 39 significant digits (DynamoDB allows at most 38)",
    ),
    "39 digits (ION)": BadLine(
        "native-ion",
        '$ion_1_0 {Item:{name:"bad",city:"Oslo",big:123456789012345678901234567890123456789.}}',
        "attribute 'big' N value has 39 significant digits (DynamoDB allows at most 38)",
    ),
    "key of the wrong type (Data Pipeline)": BadLine(
        "datapipeline",
        '{"name":{"n":"42"},"city":{"s":"Oslo"}}',
        "key attribute 'name' is of type N; the table needs S",
    ),
    "key of the wrong type (native)": BadLine(
        "native-json",
        '{"Item":{"name":{"N":"42"},"city":{"S":"Oslo"},"v":{"N":"1"}}}',
        "key attribute 'name' is of type N; the table needs S",
    ),
}


def reason_matches(actual: str, expected: str) -> bool:
    head, dots, tail = expected.partition("...")
    if not dots:
        return actual == expected
    return actual.startswith(head) and actual.endswith(tail) and len(actual) > len(expected)


@pytest.mark.parametrize("case", list(BAD_LINES), ids=list(BAD_LINES))
def test_bad_line_is_named_recorded_and_never_written(
    importer: Importer, tmp_path: Path, case: str
) -> None:
    bad = BAD_LINES[case]
    name = FILE_NAMES[bad.fmt]
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / name).write_bytes(lines(good(bad.fmt, "good-1"), bad.line, good(bad.fmt, "good-2")))

    # Stops at the first reject (--max-rejects 0): exit 1, the line named, nothing bad written.
    first = copy_of(sample, tmp_path / "stop")
    table = importer.new_table()
    stopped = importer.run(first, table)

    assert stopped.code == ExitCode.FAILURE
    assert error_line(stopped.err).startswith(f"error: {name} line 2: ")
    assert reason_matches(
        error_line(stopped.err).removeprefix(f"error: {name} line 2: "), bad.reason
    )
    [record] = rejects_of(first)
    assert (record["file"], record["line"]) == (name, 2)
    assert reason_matches(record["reason"], bad.reason), record["reason"]
    assert hint_line(stopped.err) == (
        "hint: 1 rejected so far (limit --max-rejects 0); all are listed in "
        f"{next(first.glob('ddbmigrate/runs/*/rejects/rejects.jsonl'))}"
    )
    assert importer.names(table) <= {"good-1", "good-2"}
    assert stopped.out == ""

    # --max-rejects 1: the run goes past it, writes every good line, and still exits 1.
    second = copy_of(sample, tmp_path / "continue")
    table = importer.new_table()
    continued = importer.run(second, table, "--max-rejects", "1")

    assert continued.code == ExitCode.FAILURE
    assert error_line(continued.err).startswith(
        f"error: 1 item(s) or file(s) were rejected and not written; first: {name} line 2: "
    )
    [record] = rejects_of(second)
    assert (record["file"], record["line"]) == (name, 2)
    assert reason_matches(record["reason"], bad.reason)
    assert importer.names(table) == {"good-1", "good-2"}
    if "key of the wrong type" in case:  # a parsed item is kept in the rejects file
        assert record["item"]["name"] == {"N": "42"}


def test_max_rejects_lets_the_run_continue_past_n_bad_lines_but_exits_non_zero(
    importer: Importer, tmp_path: Path
) -> None:
    name = FILE_NAMES["datapipeline"]
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / name).write_bytes(
        lines(
            good("datapipeline", "good-1"),
            BAD_LINES["not JSON (Data Pipeline)"].line,
            good("datapipeline", "good-2"),
            BAD_LINES["key of the wrong type (Data Pipeline)"].line,
            good("datapipeline", "good-3"),
            BAD_LINES["empty set (Data Pipeline)"].line,
            good("datapipeline", "good-4"),
        )
    )

    enough = copy_of(sample, tmp_path / "three")
    table = importer.new_table()
    outcome = importer.run(enough, table, "--max-rejects", "3")

    assert outcome.code == ExitCode.FAILURE
    assert error_line(outcome.err).startswith(
        f"error: 3 item(s) or file(s) were rejected and not written; first: {name} line 2: "
        "line is not valid JSON ("
    )
    assert [(r["file"], r["line"]) for r in rejects_of(enough)] == [(name, 2), (name, 4), (name, 6)]
    assert importer.names(table) == {"good-1", "good-2", "good-3", "good-4"}

    too_few = copy_of(sample, tmp_path / "two")
    table = importer.new_table()
    outcome = importer.run(too_few, table, "--max-rejects", "2")

    assert outcome.code == ExitCode.FAILURE
    assert error_line(outcome.err) == (
        f"error: {name} line 6: attribute 'tags' SS value must be a non-empty array"
    )
    assert hint_line(outcome.err).startswith("hint: 3 rejected so far (limit --max-rejects 2)")
    assert [r["line"] for r in rejects_of(too_few)] == [2, 4, 6]
    assert importer.names(table) <= {"good-1", "good-2", "good-3"}


def test_rerun_with_a_higher_max_rejects_counts_each_bad_line_once(
    importer: Importer, tmp_path: Path
) -> None:
    """What the hint invites: stopped at one bad line, run again with --max-rejects 1."""
    name = FILE_NAMES["datapipeline"]
    (tmp_path / name).write_bytes(
        lines(
            good("datapipeline", "good-1"),
            BAD_LINES["not JSON (Data Pipeline)"].line,
            good("datapipeline", "good-2"),
        )
    )
    table = importer.new_table()
    assert importer.run(tmp_path, table).code == ExitCode.FAILURE

    again = importer.run(tmp_path, table, "--max-rejects", "1")

    assert again.code == ExitCode.FAILURE
    assert error_line(again.err).startswith(
        f"error: 1 item(s) or file(s) were rejected and not written; first: {name} line 2: "
    )
    assert [(r["file"], r["line"]) for r in rejects_of(tmp_path)] == [(name, 2)]
    assert importer.names(table) == {"good-1", "good-2"}


# --- whole files ------------------------------------------------------------------------------


def test_truncated_gzip_file_is_rejected_whole(importer: Importer, tmp_path: Path) -> None:
    many = [good("native-json", f"good-{n:03d}") for n in range(200)]
    whole = gzip.compress(lines(*many), mtime=0)
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "part-00000.json.gz").write_bytes(
        gzip.compress(lines(good("native-json", "a")), mtime=0)
    )
    (sample / "part-00001.json.gz").write_bytes(whole[: len(whole) * 2 // 3])
    expected = (
        "part-00001.json.gz line 0: part-00001.json.gz: truncated or damaged gzip data: "
        "Compressed file ended before the end-of-stream marker was reached"
    )

    first = copy_of(sample, tmp_path / "stop")
    table = importer.new_table()
    stopped = importer.run(first, table, "--workers", "1")

    assert stopped.code == ExitCode.FAILURE
    assert error_line(stopped.err) == f"error: {expected}"
    [record] = rejects_of(first)
    assert f"{record['file']} line {record['line']}: {record['reason']}" == expected
    assert importer.names(table) <= {"a"}  # not one line of the damaged file, readable or not

    second = copy_of(sample, tmp_path / "continue")
    table = importer.new_table()
    continued = importer.run(second, table, "--max-rejects", "1")

    assert continued.code == ExitCode.FAILURE
    assert error_line(continued.err) == (
        f"error: 1 item(s) or file(s) were rejected and not written; first: {expected}"
    )
    assert importer.names(table) == {"a"}


# --- native exports: checksums and listed files -----------------------------------------------

EXPORT_ID = "01767225600000-0a1b2c3d"
PART_1 = "t7xkqzjb5ey3hmzw4fd2lmdvbu.json.gz"
PART_2 = "yzqk4u5gvm2ijnx7afqkdrdaqe.json.gz"


def native_export(
    root: Path, parts: dict[str, list[str]], bodies: dict[str, bytes] | None = None
) -> dict[str, bytes]:
    """An export as AWS lays it out (keys written from the bucket root with the prefix);
    returns the data files' bytes. ``bodies`` replaces some files' bytes, and the manifest's
    MD5 is of those bytes (a file that matches its manifest and is damaged all the same)."""
    data = {name: gzip.compress(lines(*records), mtime=0) for name, records in parts.items()}
    data.update(bodies or {})
    base = f"migrations/AWSDynamoDB/{EXPORT_ID}"
    files = "".join(
        f'{{"itemCount":{len(parts[name])},"md5Checksum":"{md5_b64(body)}",'
        f'"etag":"{hashlib.md5(body).hexdigest()}","dataFileS3Key":"{base}/data/{name}"}}\n'
        for name, body in data.items()
    ).encode()
    summary = (
        '{"version":"2020-06-30","exportArn":"arn:aws:dynamodb:us-east-1:111111111111:table/'
        f'customer/export/{EXPORT_ID}","startTime":"2026-01-01T00:00:00.000Z",'
        '"endTime":"2026-01-01T00:05:00.000Z","tableArn":"arn:aws:dynamodb:us-east-1:'
        '111111111111:table/customer","tableId":"12345a12-abcd-123a-ab12-1234abc12345",'
        '"exportTime":"2026-01-01T00:00:00.000Z","s3Bucket":"bucket-in-b",'
        '"s3Prefix":"migrations","s3SseAlgorithm":"AES256","s3SseKmsKeyId":null,'
        f'"manifestFilesS3Key":"{base}/manifest-files.json","billedSizeBytes":0,'
        f'"itemCount":{sum(len(r) for r in parts.values())},"outputFormat":"DYNAMODB_JSON"}}'
    ).encode()
    (root / "data").mkdir(parents=True)
    for name, body in data.items():
        (root / "data" / name).write_bytes(body)
    (root / "_started").write_bytes(b"")
    (root / "manifest-files.json").write_bytes(files)
    (root / "manifest-files.md5").write_bytes(md5_b64(files).encode())
    (root / "manifest-summary.json").write_bytes(summary)
    (root / "manifest-summary.md5").write_bytes(md5_b64(summary).encode())
    return data


def two_part_export(root: Path) -> dict[str, bytes]:
    return native_export(
        root,
        {
            PART_1: [good("native-json", "p1-a"), good("native-json", "p1-b")],
            PART_2: [good("native-json", "p2-a"), good("native-json", "p2-b")],
        },
    )


def test_md5_mismatch_in_a_native_export(importer: Importer, tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    data = two_part_export(sample)
    # Same item count, other bytes: only the MD5 can tell.
    replaced = gzip.compress(lines(good("native-json", "evil-1"), good("native-json", "evil-2")))
    (sample / "data" / PART_2).write_bytes(replaced)
    expected = (
        f"data/{PART_2} line 0: MD5 {md5_b64(replaced)} does not match the manifest's "
        f"{md5_b64(data[PART_2])}; the file was damaged or replaced"
    )

    first = copy_of(sample, tmp_path / "stop")
    table = importer.new_table()
    stopped = importer.run(first, table)

    assert stopped.code == ExitCode.FAILURE
    assert error_line(stopped.err) == f"error: {expected}"
    [record] = rejects_of(first)
    assert f"{record['file']} line {record['line']}: {record['reason']}" == expected
    assert importer.names(table) <= {"p1-a", "p1-b"}

    second = copy_of(sample, tmp_path / "continue")
    table = importer.new_table()
    continued = importer.run(second, table, "--max-rejects", "1")

    assert continued.code == ExitCode.FAILURE
    assert error_line(continued.err) == (
        f"error: 1 item(s) or file(s) were rejected and not written; first: {expected}"
    )
    assert importer.names(table) == {"p1-a", "p1-b"}


def test_native_manifest_entry_whose_file_is_missing(importer: Importer, tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    two_part_export(sample)
    (sample / "data" / PART_2).unlink()

    first = copy_of(sample, tmp_path / "stop")
    table = importer.new_table()
    stopped = importer.run(first, table)

    missing = first / "data" / PART_2
    expected = f"data/{PART_2} line 0: file is missing: {missing} does not exist"
    assert stopped.code == ExitCode.FAILURE
    assert error_line(stopped.err) == f"error: {expected}"
    [record] = rejects_of(first)
    assert f"{record['file']} line {record['line']}: {record['reason']}" == expected
    assert importer.names(table) <= {"p1-a", "p1-b"}

    second = copy_of(sample, tmp_path / "continue")
    table = importer.new_table()
    continued = importer.run(second, table, "--max-rejects", "1")

    assert continued.code == ExitCode.FAILURE
    assert "first: data/" in error_line(continued.err)
    assert importer.names(table) == {"p1-a", "p1-b"}


# --- Data Pipeline backups that cannot be read as a whole -------------------------------------

UUID_1 = "7f1c6a52-1d8e-4d43-9c59-0e3b2a1f9a11"
UUID_2 = "0b9e2d4c-5a6f-4e1b-8c7d-2f3a4b5c6d7e"


def dp_backup(root: Path, *, version: int, listed: list[str], present: list[str]) -> None:
    folder = "backups/2024-01-01-00-00-00"
    entries = ",\n".join(
        f'{{"url":"s3://bucket/{folder}/{name}","mandatory":true}}' for name in listed
    )
    root.mkdir(parents=True)
    (root / "manifest").write_text(
        f'{{"name":"DynamoDB-export","version":{version},\n"entries": [\n{entries}\n]}}'
    )
    for name in present:
        (root / name).write_bytes(lines(good("datapipeline", f"item-{name[:4]}")))
    (root / "_SUCCESS").write_bytes(b"")


def test_data_pipeline_manifest_of_another_version(importer: Importer, tmp_path: Path) -> None:
    backup = tmp_path / "2024-01-01-00-00-00"
    dp_backup(backup, version=2, listed=[UUID_1], present=[UUID_1])
    table = importer.new_table()

    outcome = importer.run(backup, table)

    assert outcome.code == ExitCode.FAILURE
    assert error_line(outcome.err) == (
        f"error: {backup}/manifest has manifest version 2; only version 3 "
        "(emr-dynamodb-tools DynamoDBExport) is supported"
    )
    assert no_run_under(backup)
    assert importer.names(table) == set()


def test_data_pipeline_manifest_entry_whose_file_is_missing(
    importer: Importer, tmp_path: Path
) -> None:
    backup = tmp_path / "2024-01-01-00-00-00"
    dp_backup(backup, version=3, listed=[UUID_1, UUID_2], present=[UUID_1])
    table = importer.new_table()

    outcome = importer.run(backup, table)

    assert outcome.code == ExitCode.FAILURE
    assert error_line(outcome.err) == (
        f"error: Data Pipeline manifest entry s3://bucket/backups/2024-01-01-00-00-00/{UUID_2} "
        f"has no file {backup}/{UUID_2}"
    )
    assert hint_line(outcome.err).startswith("hint: the backup is incomplete")
    assert no_run_under(backup)
    assert importer.names(table) == set()


# --- flags ------------------------------------------------------------------------------------


def test_unknown_format_is_a_usage_error(importer: Importer, tmp_path: Path) -> None:
    (tmp_path / UUID_1).write_bytes(lines(good("datapipeline", "good-1")))
    table = importer.new_table()

    outcome = importer.run(tmp_path, table, "--format", "csv")

    assert outcome.code == ExitCode.USAGE
    assert error_line(outcome.err) == (
        "error: --format 'csv' is not one of native-json, native-ion, datapipeline, "
        "datapipeline-hive"
    )
    assert no_run_under(tmp_path)
    assert importer.names(table) == set()


def test_negative_max_rejects_is_a_usage_error(importer: Importer, tmp_path: Path) -> None:
    (tmp_path / UUID_1).write_bytes(lines(good("datapipeline", "good-1")))
    table = importer.new_table()

    outcome = importer.run(tmp_path, table, "--max-rejects", "-1")

    assert outcome.code == ExitCode.USAGE
    assert "--max-rejects" in outcome.err
    assert no_run_under(tmp_path)
    assert importer.names(table) == set()


# --- hostile content in files whose MD5 matches their manifest ----------------------------------


def item_line(item: dict[str, Any]) -> str:
    # The json module, not orjson: orjson refuses to write an item nested 200 levels deep,
    # which is exactly what a hostile file holds.
    return json.dumps({"Item": item}, separators=(",", ":"))


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"M": {"a": value}}
    return value


HOSTILE_EXPORT = {
    PART_1: [
        good("native-json", "p1-a"),
        item_line({"name": {"S": "deep"}, "city": {"S": "Oslo"}, "v": deep(200)}),
        item_line({"name": {"S": 123}, "city": {"S": "Oslo"}}),
        good("native-json", "p1-b"),
    ],
    PART_2: [
        item_line({"name": {"S": "list"}, "city": {"S": "Oslo"}, "v": {"S": ["a"]}}),
        good("native-json", "p2-a"),
    ],
}


def test_hostile_items_whose_md5_matches_are_rejects_naming_file_and_line(
    importer: Importer, tmp_path: Path
) -> None:
    """They used to skip every check: the deep item ended in a traceback (orjson's recursion
    limit) with its batch neither written nor rejected; ``{"S": 123}`` stopped the run on
    DynamoDB's SerializationException with no file or line; ``{"S": ["a"]}`` drew an HTTP 500
    from the endpoint and exit 4."""
    sample = tmp_path / "sample"
    native_export(sample, HOSTILE_EXPORT)
    expected = [
        (f"data/{PART_1}", 2, "attribute 'v.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"),
        (f"data/{PART_1}", 3, "attribute 'name' S value must be a string, not a number"),
        (f"data/{PART_2}", 1, "attribute 'v' S value must be a string, not an array"),
    ]

    first = copy_of(sample, tmp_path / "stop")
    table = importer.new_table()
    stopped = importer.run(first, table, "--workers", "1")

    assert stopped.code == ExitCode.FAILURE
    assert "Traceback" not in stopped.err
    assert error_line(stopped.err).startswith(f"error: data/{PART_1} line 2: attribute 'v.a.a")
    assert "is nested more than 32 levels deep" in error_line(stopped.err)
    assert importer.names(table) <= {"p1-a", "p1-b", "p2-a"}

    second = copy_of(sample, tmp_path / "continue")
    table = importer.new_table()
    continued = importer.run(second, table, "--max-rejects", "3")

    assert continued.code == ExitCode.FAILURE
    assert "Traceback" not in continued.err
    assert error_line(continued.err).startswith(
        "error: 3 item(s) or file(s) were rejected and not written; first: data/"
    )
    found = sorted((r["file"], r["line"], r["reason"]) for r in rejects_of(second))
    assert [(f, n) for f, n, _ in found] == [(f, n) for f, n, _ in expected]
    for (_, _, reason), (_, _, start) in zip(found, expected, strict=True):
        assert reason.startswith(start), reason
    assert importer.names(table) == {"p1-a", "p1-b", "p2-a"}  # every good item, no bad one


def test_a_truncated_gzip_whose_md5_matches_writes_nothing(
    importer: Importer, tmp_path: Path
) -> None:
    """Truncation shows only at the end of the stream: the whole file is read and checked
    before its first write, so none of its readable first lines reach the table."""
    many = [good("native-json", f"p2-{n:03d}") for n in range(300)]
    whole = gzip.compress(lines(*many), mtime=0)
    cut = whole[: len(whole) * 2 // 3]
    sample = tmp_path / "sample"
    native_export(
        sample, {PART_1: [good("native-json", "p1-a")], PART_2: many}, bodies={PART_2: cut}
    )
    expected = (
        f"data/{PART_2} line 0: data/{PART_2}: truncated or damaged gzip data: "
        "Compressed file ended before the end-of-stream marker was reached"
    )

    table = importer.new_table()
    outcome = importer.run(sample, table, "--max-rejects", "1", "--workers", "1")

    assert outcome.code == ExitCode.FAILURE
    assert error_line(outcome.err) == (
        f"error: 1 item(s) or file(s) were rejected and not written; first: {expected}"
    )
    [record] = rejects_of(sample)
    assert f"{record['file']} line {record['line']}: {record['reason']}" == expected
    assert importer.names(table) == {"p1-a"}


def gzip_stream(head: bytes, filler: bytes, size: int) -> bytes:
    """``head`` then ``filler`` repeated to ``size`` bytes, gzipped in pieces (never held
    plain: a 64 MiB line compresses to about 64 KiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(head)]
    block = filler * (1024 * 1024 // len(filler))
    out += [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(out) + packer.flush()


def test_a_line_over_the_cap_rejects_its_file_whole(importer: Importer, tmp_path: Path) -> None:
    """A 64 MiB line in a 64 KiB gzip: it used to be re-joined chunk by chunk (quadratic)
    and held whole; now the file is refused as soon as the line passes 4 MiB."""
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "part-00000.json.gz").write_bytes(
        gzip.compress(lines(good("native-json", "a")), mtime=0)
    )
    bomb = gzip_stream(b'{"Item":{"name":{"S":"x"},"city":{"S":"', b"x", 64 * 1024 * 1024)
    (sample / "part-00001.json.gz").write_bytes(bomb)

    table = importer.new_table()
    outcome = importer.run(sample, table, "--max-rejects", "1")

    expected = (
        "part-00001.json.gz line 0: line 1 is longer than 4194304 bytes (DynamoDB items are "
        "at most 400 KB); the file is not a data file of a table, nothing of it is written"
    )
    assert outcome.code == ExitCode.FAILURE
    assert error_line(outcome.err) == (
        f"error: 1 item(s) or file(s) were rejected and not written; first: {expected}"
    )
    [record] = rejects_of(sample)
    assert (record["file"], record["line"]) == ("part-00001.json.gz", 0)
    assert importer.names(table) == {"a"}


def test_a_decompression_bomb_is_rejected_whole(importer: Importer, tmp_path: Path) -> None:
    """Short lines, inflating a thousand times: refused once past 64 MiB, before a write."""
    sample = tmp_path / "sample"
    sample.mkdir()
    (sample / "part-00000.json.gz").write_bytes(
        gzip.compress(lines(good("native-json", "a")), mtime=0)
    )
    head = lines(good("native-json", "bomb"))
    (sample / "part-00001.json.gz").write_bytes(gzip_stream(head, b"x" * 99 + b"\n", 80 << 20))

    table = importer.new_table()
    outcome = importer.run(sample, table, "--max-rejects", "1")

    assert outcome.code == ExitCode.FAILURE
    [record] = rejects_of(sample)
    assert (record["file"], record["line"]) == ("part-00001.json.gz", 0)
    assert record["reason"].startswith(
        "part-00001.json.gz: decompresses to over 250 times its compressed size ("
    )
    assert record["reason"].endswith("refused as a decompression bomb, nothing of it is written")
    assert importer.names(table) == {"a"}


# --- DynamoDB's own refusals, answered per item by a stub endpoint -----------------------------
# moto answers neither like AWS: it takes {"B": "!"} and answers {"S": ["a"]} with HTTP 500.
# The stub answers what AWS does for a batch holding a bad item: SerializationException (a
# value of the wrong JSON type or bad base64) or ValidationException, for the whole batch.


@pytest.fixture
def stub(aws_env: None) -> Iterator[DynamoStub]:
    server = DynamoStub()
    yield server
    server.close()


@dataclass
class Endpoint:
    """What the stub's BatchWriteItem answers, by the items in the request."""

    refuse: dict[str, Reply]
    """Item name -> the answer to any request holding it."""
    written: list[str]

    def __call__(self, body: dict[str, Any]) -> Reply:
        requests = body["RequestItems"]["dest"]
        names = [r["PutRequest"]["Item"]["name"]["S"] for r in requests]
        for name in names:
            if name in self.refuse:
                return self.refuse[name]
        self.written += names
        return ok({"UnprocessedItems": {}, "ConsumedCapacity": [{"CapacityUnits": 1.0}]})


def import_through(stub: DynamoStub, root: Path, endpoint: Endpoint) -> RejectLog:
    """``import_source`` of the export under ``root`` through the real wire client."""
    stub.respond("BatchWriteItem", endpoint)
    store = LocalStore(str(root))
    rejects = RejectLog(store, "ddbmigrate/runs/t", max_rejects=5)
    wire = WireClient(SideSession(Side(endpoint_url=stub.url, region=LOCAL_REGION)))
    try:
        import_source(
            store=store,
            plan=detect(store),
            writer=DynamoTableWriter(wire, "dest"),
            key=KEY,
            options=ImportOptions(workers=1, retry=RetryPolicy(max_attempts=3, base_delay=0.0)),
            rejects=rejects,
            clock=FakeClock(),
        )
    finally:
        wire.close()
    return rejects


KEY = KeySchema(KeyAttribute("name", "S"), KeyAttribute("city", "S"))
STUB_PARTS = {
    PART_1: [good("native-json", f"p1-{n}") for n in range(10)],
    PART_2: [good("native-json", f"p2-{n}") for n in range(10)],
}


@pytest.mark.parametrize(
    "answer",
    [
        error(400, "SerializationException", "Base64 encoded length is expected a multiple of 4"),
        error(500, "InternalServerError", "Internal server error"),
    ],
    ids=["SerializationException", "HTTP 500"],
)
def test_an_item_dynamodb_refuses_is_a_reject_and_its_batch_is_written(
    stub: DynamoStub, tmp_path: Path, answer: Reply
) -> None:
    """SerializationException used to stop the run (no rejects file, no file or line); a 500
    caused by one item was "transient" for ever (exit 4). Now the batch is re-sent item by
    item: the item that keeps failing alone, while the others go through, is the reject."""
    native_export(tmp_path, STUB_PARTS)
    endpoint = Endpoint(refuse={"p2-6": answer}, written=[])

    with pytest.raises(RejectsError) as info:
        import_through(stub, tmp_path, endpoint)

    assert info.value.message.startswith(
        f"1 item(s) or file(s) were rejected and not written; first: data/{PART_2} line 7: "
    )
    [record] = [orjson.loads(line) for line in (tmp_path / REJECTS).read_bytes().splitlines()]
    assert (record["file"], record["line"]) == (f"data/{PART_2}", 7)
    assert answer.body.decode().split('"message":"')[1].rstrip('"}') in record["reason"]
    wanted = {name for part in STUB_PARTS.values() for name in map(name_of, part)} - {"p2-6"}
    assert set(endpoint.written) == wanted


def test_a_server_error_for_every_item_is_transient_and_rejects_nothing(
    stub: DynamoStub, tmp_path: Path
) -> None:
    """A genuine outage is not blamed on an item (exit 4, "retry may succeed"), while the
    same error for one item alone, with the others going through, is that item's."""
    native_export(tmp_path / "one", STUB_PARTS)
    down = error(500, "InternalServerError", "Internal server error")
    one = Endpoint(refuse={"p1-0": down}, written=[])
    with pytest.raises(RejectsError, match=f"first: data/{PART_1} line 1: DynamoDB answered"):
        import_through(stub, tmp_path / "one", one)
    every = [name_of(line) for part in STUB_PARTS.values() for line in part]
    assert set(one.written) == set(every) - {"p1-0"}  # one written twice: the probe

    native_export(tmp_path / "all", STUB_PARTS)
    endpoint = Endpoint(refuse=dict.fromkeys(every, down), written=[])

    with pytest.raises(TransientError) as info:
        import_through(stub, tmp_path / "all", endpoint)

    assert exit_code_for(info.value) == ExitCode.TRANSIENT
    assert not (tmp_path / "all" / REJECTS).exists()
    assert endpoint.written == []


def test_an_item_that_cannot_be_encoded_is_refused_not_a_traceback(stub: DynamoStub) -> None:
    """A request orjson cannot write (nested past its 254 levels) is a refused item."""
    wire = WireClient(SideSession(Side(endpoint_url=stub.url, region=LOCAL_REGION)))
    item = {"name": {"S": "deep"}, "v": deep(300)}
    try:
        with pytest.raises(RejectedItemError, match="the item cannot be sent as JSON"):
            DynamoTableWriter(wire, "dest").batch_write([{"PutRequest": {"Item": item}}])
    finally:
        wire.close()
    assert stub.count("BatchWriteItem") == 0


REJECTS = "ddbmigrate/runs/t/rejects/rejects.jsonl"


def name_of(line: str) -> str:
    return str(orjson.loads(line)["Item"]["name"]["S"])
