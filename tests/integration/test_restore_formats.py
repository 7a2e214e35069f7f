"""Restore every input format FORMATS.md describes, from samples made by hand, into moto.

Nothing here is written with ddbmigrate's own writers: every manifest, checksum file and data
line is spelled out byte by byte the way AWS (ExportTableToPointInTime) or Data Pipeline
(emr-dynamodb-tools, Hive) wrote them, uploaded to the destination account's bucket (or laid
out in a tmp dir), restored with the real tool, and every item read back from the
destination with the wire client is compared with the expected wire form written out here.
The last tests go the other way: ``ddbmigrate export`` in the ION and Data Pipeline formats,
re-imported by ``ddbmigrate import``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from ddbmigrate import api
from ddbmigrate.aws.dynamodb import DynamoTableWriter
from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.wire import WireClient
from ddbmigrate.cli.app import main
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.formats.compression import ZSTD_MAGIC
from ddbmigrate.local.demo import create_customer_table, scan_items
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import (
    BUCKET,
    DEST_ACCOUNT,
    DEST_ROLE,
    SOURCE_ROLE,
    LocalAWS,
    staging_bucket_policy,
)
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.model import Item
from itemcompare import assert_same_items, dynamodb_client
from tables import make_customer_table

pytestmark = pytest.mark.integration


# --- the embedded AWS -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    """The destination account's staging bucket (with bootstrap's policy), once per server.

    ``local.env.bootstrap`` refuses to run twice on one server and test_migrate.py calls it
    unguarded, so this sets up only the bucket part when no one has yet: bootstrap run later
    still succeeds (S3 in us-east-1 accepts the owner creating its own bucket again).
    """
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    s3 = env.client(DEST_ROLE, "s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_policy(
            Bucket=BUCKET, Policy=json.dumps(staging_bucket_policy(BUCKET, SOURCE_ROLE))
        )
    return env


@pytest.fixture
def aws(local_aws: LocalAWS, aws_env: None) -> LocalAWS:
    """The two-account AWS with this process's credential chain pointed at it."""
    return local_aws


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def create_dest_table(aws: LocalAWS, table: str) -> None:
    """A (name S, city S) table in the destination account: AWS exports carry no schema."""
    make_customer_table(aws, table, role=DEST_ROLE)


def put_dest_items(aws: LocalAWS, table: str, items: list[Item]) -> None:
    """Through the wire client (boto3 would re-encode binary)."""
    writer = DynamoTableWriter(WireClient(SideSession(aws.dest)), table)
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        assert writer.batch_write(batch).unprocessed == []


def _sets_sorted(value: Any) -> Any:
    """A wire value with set members sorted (a set's order means nothing), recursively."""
    ((type_key, payload),) = value.items()
    if type_key in ("SS", "NS", "BS"):
        return {type_key: sorted(payload)}
    if type_key == "M":
        return {"M": {k: _sets_sorted(v) for k, v in payload.items()}}
    if type_key == "L":
        return {"L": [_sets_sorted(v) for v in payload]}
    return value


def wire_by_key(items: list[Item]) -> dict[tuple[str, str], bytes]:
    """Key -> exact JSON bytes of the item (set order aside): numbers, binary, empties as is."""
    return {
        (i["name"]["S"], i["city"]["S"]): orjson.dumps(
            {k: _sets_sorted(v) for k, v in i.items()}, option=orjson.OPT_SORT_KEYS
        )
        for i in items
    }


def assert_table_holds(aws: LocalAWS, table: str, expected: list[Item]) -> None:
    got = wire_by_key(scan_items(aws.dest, table))
    want = wire_by_key(expected)
    assert sorted(got) == sorted(want)
    for key, body in want.items():
        assert orjson.loads(got[key]) == orjson.loads(body), key


def import_args(aws: LocalAWS, source: str, table: str, *extra: str) -> list[str]:
    return [
        "import",
        source,
        "--table",
        table,
        "--dest-role-arn",
        DEST_ROLE,
        "--dest-endpoint-url",
        aws.endpoint_url,
        "--dest-region",
        LOCAL_REGION,
        "--progress",
        "off",
        *extra,
    ]


# --- the samples: bytes as AWS and Data Pipeline wrote them, and the items they hold ----------

# DYNAMODB_JSON lines (FORMATS.md section 1): upper-case type keys, Item wrapper, N as text.
ALICE_JSON = (
    r'{"Item":{"name":{"S":"Alice"},"city":{"S":"Seattle"},"visits":{"N":"12"},'
    r'"tags":{"SS":["a","b"]},"avatar":{"B":"AAEC"},"prefs":{"M":{"dark":{"BOOL":true}}},'
    r'"history":{"L":[{"N":"1"},{"NULL":true}]}}}'
)
BOB_JSON = (
    r'{"Item":{"name":{"S":"Bob"},"city":{"S":"Z\u00fcrich"},'
    r'"precise":{"N":"1234567890123456789012345678901234567.8"},"tiny":{"N":"1E-130"},'
    r'"huge":{"N":"9.9999999999999999999999999999999999999E+125"},"neg":{"N":"-0.001"},'
    r'"scores":{"NS":["1","2.5","-3"]},"keys":{"BS":["AAE=","/w=="]},"note":{"S":""},'
    r'"empty_blob":{"B":""},"nothing":{"L":[]},"settings":{"M":{}},"off":{"BOOL":false}}}'
)
CAROL_JSON = (
    r'{"Item":{"name":{"S":"Carol"},"city":{"S":"東京"},"deep":{"M":{"icon":{"B":"AQID"},'
    r'"set":{"BS":["AA=="]},"list":{"L":[{"M":{"x":{"SS":["y"]}}},{"L":[]},'
    r'{"S":"a\"quote\\ and\nnewline"}]}}}}}'
)

ALICE: Item = {
    "name": {"S": "Alice"},
    "city": {"S": "Seattle"},
    "visits": {"N": "12"},
    "tags": {"SS": ["a", "b"]},
    "avatar": {"B": "AAEC"},
    "prefs": {"M": {"dark": {"BOOL": True}}},
    "history": {"L": [{"N": "1"}, {"NULL": True}]},
}
BOB: Item = {
    "name": {"S": "Bob"},
    "city": {"S": "Zürich"},
    "precise": {"N": "1234567890123456789012345678901234567.8"},
    "tiny": {"N": "1E-130"},
    "huge": {"N": "9.9999999999999999999999999999999999999E+125"},
    "neg": {"N": "-0.001"},
    "scores": {"NS": ["1", "2.5", "-3"]},
    "keys": {"BS": ["AAE=", "/w=="]},
    "note": {"S": ""},
    "empty_blob": {"B": ""},
    "nothing": {"L": []},
    "settings": {"M": {}},
    "off": {"BOOL": False},
}
CAROL: Item = {
    "name": {"S": "Carol"},
    "city": {"S": "東京"},
    "deep": {
        "M": {
            "icon": {"B": "AQID"},
            "set": {"BS": ["AA=="]},
            "list": {
                "L": [
                    {"M": {"x": {"SS": ["y"]}}},
                    {"L": []},
                    {"S": 'a"quote\\ and\nnewline'},
                ]
            },
        }
    },
}

# ION lines: N as Ion decimals (12., 1.50, 1d-130), B as blobs, sets as annotated lists.
ALICE_ION = (
    '$ion_1_0 {Item:{name:"Alice",city:"Seattle",visits:12.,tags:$dynamodb_SS::["a","b"],'
    "avatar:{{AAEC}},prefs:{dark:true},history:[1.,null]}}"
)
BOB_ION = (
    '$ion_1_0 {Item:{name:"Bob",city:"Z\\xfcrich",'
    "precise:1234567890123456789012345678901234567.8,tiny:1d-130,"
    "huge:9.9999999999999999999999999999999999999d125,neg:-0.001,price:1.50,"
    "scores:$dynamodb_NS::[1.,2.5,-3.],keys:$dynamodb_BS::[{{AAE=}},{{/w==}}],"
    'note:"",empty_blob:{{}},nothing:[],settings:{},off:false,\'first-name\':"Robert"}}'
)
CAROL_ION = (
    r'$ion_1_0 {Item:{name:"Carol",city:"東京",deep:{icon:{{AQID}},'
    r'set:$dynamodb_BS::[{{AA==}}],list:[{x:$dynamodb_SS::["y"]},[],'
    r'"a\"quote\\ and\nnewline"]}}}'
)
# Ion keeps the value; the tool spells 1.50 as DynamoDB returns it.
BOB_FROM_ION: Item = {**BOB, "price": {"N": "1.5"}, "first-name": {"S": "Robert"}}

# Data Pipeline manifest era: Java SDK v1 field names, any case, nested too.
ALICE_DP = (
    r'{"name":{"s":"Alice"},"city":{"s":"Seattle"},"visits":{"n":"12"},"tags":{"sS":["a","b"]},'
    r'"avatar":{"b":"AAEC"},"prefs":{"m":{"dark":{"bOOL":true}}},'
    r'"history":{"l":[{"n":"1"},{"nULL":true}]}}'
)
BOB_DP = (
    r'{"name":{"s":"Bob"},"city":{"S":"Z\u00fcrich"},'
    r'"precise":{"n":"1234567890123456789012345678901234567.8"},"tiny":{"n":"1E-130"},'
    r'"huge":{"n":"9.9999999999999999999999999999999999999E+125"},"neg":{"N":"-0.001"},'
    r'"scores":{"nS":["1","2.5","-3"]},"keys":{"bS":["AAE=","/w=="]},"note":{"s":""},'
    r'"empty_blob":{"b":""},"nothing":{"l":[]},"settings":{"m":{}},"off":{"bool":false}}'
)
CAROL_DP = (
    r'{"name":{"s":"Carol"},"city":{"s":"東京"},"deep":{"M":{"icon":{"B":"AQID"},'
    r'"set":{"bs":["AA=="]},"list":{"L":[{"m":{"x":{"SS":["y"]}}},{"l":[]},'
    r'{"s":"a\"quote\\ and\nnewline"}]}}},"gone":{"null":true}}'
)
CAROL_FROM_DP: Item = {**CAROL, "gone": {"NULL": True}}

# Data Pipeline Hive era: name \x03 value-json pairs joined by \x02; names are not escaped.
ALICE_HIVE = (
    b'name\x03{"s":"Alice"}\x02city\x03{"s":"Seattle"}\x02visits\x03{"n":"12"}'
    b'\x02tags\x03{"sS":["a","b"]}\x02avatar\x03{"b":"AAEC"}'
    b'\x02prefs\x03{"m":{"dark":{"bOOL":true}}}\x02history\x03{"l":[{"n":"1"},{"nULL":true}]}'
)
BOB_HIVE = (
    b'name\x03{"s":"Bob"}\x02city\x03{"s":"Z\\u00fcrich"}'
    b'\x02precise\x03{"n":"1234567890123456789012345678901234567.8"}\x02tiny\x03{"n":"1E-130"}'
    b'\x02huge\x03{"n":"9.9999999999999999999999999999999999999E+125"}\x02neg\x03{"n":"-0.001"}'
    b'\x02scores\x03{"nS":["1","2.5","-3"]}\x02keys\x03{"bS":["AAE=","/w=="]}'
    b'\x02note\x03{"s":""}\x02empty_blob\x03{"b":""}\x02nothing\x03{"l":[]}'
    b'\x02settings\x03{"m":{}}\x02off\x03{"bOOL":false}'
)
CAROL_HIVE = (
    b'name\x03{"s":"Carol"}\x02city\x03{"s":"\xe6\x9d\xb1\xe4\xba\xac"}'
    b'\x02deep\x03{"m":{"icon":{"b":"AQID"},"set":{"bS":["AA=="]},'
    b'"list":{"l":[{"m":{"x":{"sS":["y"]}}},{"l":[]},{"s":"a\\"quote\\\\ and\\nnewline"}]}}}'
    b'\x02first name\x03{"s":"Caroline"}'
)
CAROL_FROM_HIVE: Item = {**CAROL, "first name": {"S": "Caroline"}}


def lines(*records: str | bytes) -> bytes:
    """Records joined as a data file: one a line, each ending with a newline."""
    return b"".join((r.encode() if isinstance(r, str) else r) + b"\n" for r in records)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


# --- a native export laid out as AWS writes it ------------------------------------------------

OLD_ID = "01767225600000-0a1b2c3d"
NEW_ID = "01767229200000-4e5f6a7b"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:111111111111:table/customer"


@dataclass(frozen=True)
class DataFile:
    """One object of ``data/``: its name (AWS's random one), stored bytes and item count."""

    name: str
    body: bytes
    items: int


def aws_export(
    *,
    export_id: str,
    files: list[DataFile],
    key_prefix: str,
    s3_prefix: str,
    side_suffix: str = ".md5",
    output_format: str = "DYNAMODB_JSON",
    incremental: bool = False,
    with_export_type: bool = True,
) -> dict[str, bytes]:
    """The objects of one export, keyed relative to ``<prefix>/AWSDynamoDB/<id>/``.

    ``key_prefix`` is what AWS wrote in front of ``AWSDynamoDB/`` in ``dataFileS3Key`` and
    ``manifestFilesS3Key`` ('' = without the prefix); ``s3_prefix`` is ``s3Prefix``. Older
    full exports have no ``exportType`` (``with_export_type=False``).
    """
    base = f"{key_prefix}/AWSDynamoDB/{export_id}" if key_prefix else f"AWSDynamoDB/{export_id}"
    manifest_files = "".join(
        f'{{"itemCount":{f.items},"md5Checksum":"{md5_b64(f.body)}",'
        f'"etag":"{hashlib.md5(f.body).hexdigest()}","dataFileS3Key":"{base}/data/{f.name}"}}\n'
        for f in files
    ).encode()
    total = sum(f.items for f in files)
    if incremental:
        middle = (
            '"exportFromTime":"2026-01-01T00:00:00.000Z","exportToTime":"2026-01-01T01:00:00.000Z",'
        )
        version, tail = (
            "2023-08-01",
            (',"outputView":"NEW_AND_OLD_IMAGES","exportType":"INCREMENTAL_EXPORT"}'),
        )
    else:
        middle = '"exportTime":"2026-01-01T00:00:00.000Z",'
        version, tail = "2020-06-30", ',"exportType":"FULL_EXPORT"}' if with_export_type else "}"
    summary = (
        f'{{"version":"{version}","exportArn":"{TABLE_ARN}/export/{export_id}",'
        '"startTime":"2026-01-01T00:00:00.000Z","endTime":"2026-01-01T00:05:00.000Z",'
        f'"tableArn":"{TABLE_ARN}","tableId":"12345a12-abcd-123a-ab12-1234abc12345",{middle}'
        f'"s3Bucket":"bucket-in-b","s3Prefix":"{s3_prefix}","s3SseAlgorithm":"AES256",'
        f'"s3SseKmsKeyId":null,"manifestFilesS3Key":"{base}/manifest-files.json",'
        f'"billedSizeBytes":{sum(len(f.body) for f in files)},"itemCount":{total},'
        f'"outputFormat":"{output_format}"{tail}'
    ).encode()
    objects = {
        "_started": b"",
        "manifest-summary.json": summary,
        f"manifest-summary{side_suffix}": md5_b64(summary).encode(),
        "manifest-files.json": manifest_files,
        f"manifest-files{side_suffix}": md5_b64(manifest_files).encode(),
    }
    objects.update({f"data/{f.name}": f.body for f in files})
    return objects


def upload(aws: LocalAWS, folder: str, objects: dict[str, bytes]) -> None:
    s3 = aws.client(DEST_ROLE, "s3")
    for name, body in objects.items():
        s3.put_object(Bucket=BUCKET, Key=f"{folder}/{name}", Body=body)


def lay_out(root: Path, objects: dict[str, bytes]) -> None:
    for name, body in objects.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def full_export_files(*, empty_as_zero_bytes: bool = False) -> list[DataFile]:
    """Three items in two files, and one empty file (an empty partition)."""
    empty = b"" if empty_as_zero_bytes else gz(b"")
    return [
        DataFile("t7xkqzjb5ey3hmzw4fd2lmdvbu.json.gz", gz(lines(ALICE_JSON, BOB_JSON)), 2),
        DataFile("3c5vgpw2kqyrzpwjtclbvnamjy.json.gz", empty, 0),
        DataFile("yzqk4u5gvm2ijnx7afqkdrdaqe.json.gz", gz(lines(CAROL_JSON)), 1),
    ]


@pytest.mark.parametrize("source", ["export folder", "prefix above"])
@pytest.mark.parametrize(
    ("keys", "empty_as_zero_bytes"),
    [("with-prefix", False), ("without-prefix", True), ("copied-elsewhere", False)],
)
def test_native_json_export_as_aws_writes_it(
    aws: LocalAWS, keys: str, empty_as_zero_bytes: bool, source: str
) -> None:
    """dataFileS3Key from the bucket root with the prefix, without it, or naming the prefix
    the export was copied from; one empty part (a gzip of nothing, or a 0-byte object)."""
    prefix = unique("exports")
    written_under = {"with-prefix": prefix, "without-prefix": "", "copied-elsewhere": "old/place"}
    objects = aws_export(
        export_id=OLD_ID,
        files=full_export_files(empty_as_zero_bytes=empty_as_zero_bytes),
        key_prefix=written_under[keys],
        s3_prefix=written_under[keys] or prefix,
    )
    folder = f"{prefix}/AWSDynamoDB/{OLD_ID}"
    upload(aws, folder, objects)
    table = unique("native-json")
    create_dest_table(aws, table)
    url = f"s3://{BUCKET}/{folder}/" if source == "export folder" else f"s3://{BUCKET}/{prefix}/"

    result = api.import_(dest=aws.dest, source_url=url, table=table)

    assert (result.item_count, result.files) == (3, 3)
    assert_table_holds(aws, table, [ALICE, BOB, CAROL])


def test_checksum_side_files_instead_of_md5(aws: LocalAWS, tmp_path: Path) -> None:
    """The docs name the side files .checksum; a local copy of the export works too."""
    objects = aws_export(
        export_id=OLD_ID,
        files=full_export_files(),
        key_prefix="migrations",
        s3_prefix="migrations",
        side_suffix=".checksum",
        with_export_type=False,
    )
    assert b"exportType" not in objects["manifest-summary.json"]
    assert "manifest-summary.checksum" in objects
    assert "manifest-summary.md5" not in objects
    lay_out(tmp_path / "AWSDynamoDB" / OLD_ID, objects)
    table = unique("checksum")
    create_dest_table(aws, table)

    result = api.import_(
        dest=aws.dest, source_url=str(tmp_path / "AWSDynamoDB" / OLD_ID), table=table
    )

    assert result.item_count == 3
    assert_table_holds(aws, table, [ALICE, BOB, CAROL])


def test_checksum_side_file_is_checked(aws: LocalAWS, tmp_path: Path) -> None:
    objects = aws_export(
        export_id=OLD_ID,
        files=full_export_files(),
        key_prefix="",
        s3_prefix="",
        side_suffix=".checksum",
    )
    objects["manifest-files.checksum"] = md5_b64(b"something else").encode()
    lay_out(tmp_path, objects)
    table = unique("bad-checksum")
    create_dest_table(aws, table)

    code = main(import_args(aws, str(tmp_path), table))

    assert code == ExitCode.FAILURE
    assert scan_items(aws.dest, table) == []


def test_prefix_above_exports_takes_the_newest_complete_one_or_the_one_named(
    aws: LocalAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = unique("many")
    upload(
        aws,
        f"{prefix}/AWSDynamoDB/{OLD_ID}",
        aws_export(
            export_id=OLD_ID,
            files=[DataFile("oldpartaaaaaaaaaaaaaaaaaaa.json.gz", gz(lines(ALICE_JSON)), 1)],
            key_prefix=prefix,
            s3_prefix=prefix,
        ),
    )
    upload(
        aws,
        f"{prefix}/AWSDynamoDB/{NEW_ID}",
        aws_export(
            export_id=NEW_ID, files=full_export_files(), key_prefix=prefix, s3_prefix=prefix
        ),
    )
    # A newer export that never finished: _started and a part, no manifest-summary.json.
    unfinished = "01767232800000-8c9d0e1f"
    upload(
        aws,
        f"{prefix}/AWSDynamoDB/{unfinished}",
        {"_started": b"", "data/unfinishedaaaaaaaaaaaaaa.json.gz": gz(lines(CAROL_JSON))},
    )
    newest, named = unique("newest"), unique("named")
    create_dest_table(aws, newest)
    create_dest_table(aws, named)

    assert main(import_args(aws, f"s3://{BUCKET}/{prefix}/", newest)) == ExitCode.OK
    assert f"AWSDynamoDB/{NEW_ID}" in capsys.readouterr().err
    assert_table_holds(aws, newest, [ALICE, BOB, CAROL])

    code = main(import_args(aws, f"s3://{BUCKET}/{prefix}", named, "--export-id", OLD_ID))
    assert code == ExitCode.OK
    assert f"imported 1 items from 1 files into {named}" in capsys.readouterr().out
    assert_table_holds(aws, named, [ALICE])


# --- ION --------------------------------------------------------------------------------------


def test_native_ion_export(aws: LocalAWS) -> None:
    prefix = unique("ion")
    files = [
        DataFile("q2w3e4r5t6y7u8i9o0p1a2s3d4.ion.gz", gz(lines(ALICE_ION, BOB_ION)), 2),
        DataFile("z1x2c3v4b5n6m7l8k9j0h1g2f3.ion.gz", gz(b""), 0),
        DataFile("m4n5b6v7c8x9z0l1k2j3h4g5f6.ion.gz", gz(lines(CAROL_ION)), 1),
    ]
    folder = f"{prefix}/AWSDynamoDB/{OLD_ID}"
    upload(
        aws,
        folder,
        aws_export(
            export_id=OLD_ID,
            files=files,
            key_prefix=prefix,
            s3_prefix=prefix,
            output_format="ION",
        ),
    )
    table = unique("ion")
    create_dest_table(aws, table)

    result = api.import_(dest=aws.dest, source_url=f"s3://{BUCKET}/{prefix}/", table=table)

    assert result.item_count == 3
    assert_table_holds(aws, table, [ALICE, BOB_FROM_ION, CAROL])


# --- incremental exports ----------------------------------------------------------------------

T0 = 1767225600000000  # 2026-01-01T00:00:00Z in epoch microseconds


def change(ts: int, name: str, city: str, *, new: str | None, old: str | None) -> str:
    """One DYNAMODB_JSON incremental record; ``new``/``old`` are extra attributes of the
    images as JSON text (None: that image is absent)."""
    keys = f'{{"name":{{"S":"{name}"}},"city":{{"S":"{city}"}}}}'
    record = f'{{"Metadata":{{"WriteTimestampMicros":{{"N":"{T0 + ts}"}}}},"Keys":{keys}'
    if old is not None:
        record += f',"OldImage":{{"name":{{"S":"{name}"}},"city":{{"S":"{city}"}}{old}}}'
    if new is not None:
        record += f',"NewImage":{{"name":{{"S":"{name}"}},"city":{{"S":"{city}"}}{new}}}'
    return record + "}"


def person(name: str, city: str, version: str, **extra: Any) -> Item:
    return {"name": {"S": name}, "city": {"S": city}, "v": {"N": version}, **extra}


BASE = [
    person("Alice", "Seattle", "1"),
    person("Bob", "Oslo", "1"),
    person("Carol", "Lagos", "1"),
    person("Dan", "Austin", "1"),
    person("Fay", "Rome", "1"),
]


def test_incremental_export_applies_puts_updates_and_deletes_newest_wins(
    aws: LocalAWS,
) -> None:
    first = lines(
        change(100, "Eve", "Paris", new=',"v":{"N":"1"}', old=None),  # put of a new key
        change(
            200, "Alice", "Seattle", new=',"v":{"N":"2"},"tags":{"SS":["x"]}', old=',"v":{"N":"1"}'
        ),
        change(300, "Bob", "Oslo", new=None, old=',"v":{"N":"1"}'),  # delete with OldImage
        change(500, "Carol", "Lagos", new=',"v":{"N":"3"}', old=',"v":{"N":"2"}'),  # newest
        change(100, "Dan", "Austin", new=',"v":{"N":"9"}', old=',"v":{"N":"1"}'),  # older
    )
    second = lines(
        change(400, "Carol", "Lagos", new=',"v":{"N":"2"}', old=',"v":{"N":"1"}'),  # older, later
        change(600, "Dan", "Austin", new=None, old=None),  # delete, Keys only, newer
        change(700, "Gus", "Nowhere", new=None, old=None),  # delete of a key never there
    )
    files = [
        DataFile("inc1aaaaaaaaaaaaaaaaaaaaaa.json.gz", gz(first), 5),
        DataFile("inc2bbbbbbbbbbbbbbbbbbbbbb.json.gz", gz(second), 3),
        DataFile("inc3cccccccccccccccccccccc.json.gz", gz(b""), 0),
    ]
    prefix = unique("incr")
    folder = f"{prefix}/AWSDynamoDB/{NEW_ID}"
    upload(
        aws,
        folder,
        aws_export(
            export_id=NEW_ID, files=files, key_prefix=prefix, s3_prefix=prefix, incremental=True
        ),
    )
    table = unique("incr")
    create_dest_table(aws, table)
    put_dest_items(aws, table, BASE)

    result = api.import_(
        dest=aws.dest, source_url=f"s3://{BUCKET}/{folder}/", table=table, into_existing=True
    )

    assert result.item_count == 6  # one change per key: Eve Alice Bob Carol Dan Gus
    assert_table_holds(
        aws,
        table,
        [
            person("Alice", "Seattle", "2", tags={"SS": ["x"]}),
            person("Carol", "Lagos", "3"),
            person("Eve", "Paris", "1"),
            person("Fay", "Rome", "1"),
        ],
    )


def test_incremental_export_needs_into_existing_for_a_table_with_items(
    aws: LocalAWS, tmp_path: Path
) -> None:
    body = gz(lines(change(100, "Eve", "Paris", new=',"v":{"N":"1"}', old=None)))
    lay_out(
        tmp_path,
        aws_export(
            export_id=NEW_ID,
            files=[DataFile("inc1aaaaaaaaaaaaaaaaaaaaaa.json.gz", body, 1)],
            key_prefix="p",
            s3_prefix="p",
            incremental=True,
        ),
    )
    table = unique("incr-refused")
    create_dest_table(aws, table)
    put_dest_items(aws, table, BASE[:1])

    assert main(import_args(aws, str(tmp_path), table)) == ExitCode.FAILURE
    assert_table_holds(aws, table, BASE[:1])
    assert main(import_args(aws, str(tmp_path), table, "--into-existing")) == ExitCode.OK
    assert_table_holds(aws, table, [BASE[0], person("Eve", "Paris", "1")])


def test_incremental_export_in_ion(aws: LocalAWS, tmp_path: Path) -> None:
    records = lines(
        "$ion_1_0 {Metadata:{WriteTimestampMicros:1767225600000100.},"
        'Keys:{name:"Alice",city:"Seattle"},OldImage:{name:"Alice",city:"Seattle",v:1.},'
        'NewImage:{name:"Alice",city:"Seattle",v:2.,blob:{{AAEC}},s:$dynamodb_NS::[1.5,2.]}}',
        "$ion_1_0 {Metadata:{WriteTimestampMicros:1767225600000200.},"
        'Keys:{name:"Bob",city:"Oslo"},OldImage:{name:"Bob",city:"Oslo",v:1.}}',
        "$ion_1_0 {Metadata:{WriteTimestampMicros:1767225600000300.},"
        'Keys:{name:"Eve",city:"Paris"},NewImage:{name:"Eve",city:"Paris",v:1.}}',
    )
    lay_out(
        tmp_path,
        aws_export(
            export_id=NEW_ID,
            files=[DataFile("incionaaaaaaaaaaaaaaaaaaaa.ion.gz", gz(records), 3)],
            key_prefix="",
            s3_prefix="",
            output_format="ION",
            incremental=True,
        ),
    )
    table = unique("incr-ion")
    create_dest_table(aws, table)
    put_dest_items(aws, table, BASE[:2])

    result = api.import_(dest=aws.dest, source_url=str(tmp_path), table=table, into_existing=True)

    assert result.item_count == 3
    assert_table_holds(
        aws,
        table,
        [
            person("Alice", "Seattle", "2", blob={"B": "AAEC"}, s={"NS": ["1.5", "2"]}),
            person("Eve", "Paris", "1"),
        ],
    )


# --- Data Pipeline, manifest era --------------------------------------------------------------

UUID_1 = "7f1c6a52-1d8e-4d43-9c59-0e3b2a1f9a11"
UUID_2 = "0b9e2d4c-5a6f-4e1b-8c7d-2f3a4b5c6d7e"
STRAY = "c3d2e1f0-9a8b-4c7d-8e6f-5a4b3c2d1e0f"


def dp_manifest(bucket: str, folder: str, names: list[str]) -> bytes:
    """``manifest`` exactly as emr-dynamodb-tools wrote it (FORMATS.md section 2)."""
    entries = ",\n".join(
        f'{{"url":"s3://{bucket}/{folder}/{name}","mandatory":true}}' for name in names
    )
    return f'{{"name":"DynamoDB-export","version":3,\n"entries": [\n{entries}\n]}}'.encode()


def test_data_pipeline_manifest_era_backup(
    aws: LocalAWS, capsys: pytest.CaptureFixture[str]
) -> None:
    prefix = unique("dp")
    newer, older = f"{prefix}/backups/2024-01-01-00-00-00", f"{prefix}/backups/2023-12-31-00-00-00"
    mallory = r'{"name":{"s":"Mallory"},"city":{"s":"Nowhere"}}'
    upload(
        aws,
        newer,
        {
            # The URLs name the bucket the pipeline wrote to; only the file names count.
            "manifest": dp_manifest("old-backup-bucket", newer, [UUID_1, UUID_2]),
            UUID_1: lines(ALICE_DP, BOB_DP),
            UUID_2: lines(CAROL_DP),
            "_SUCCESS": b"",
            STRAY: lines(mallory),  # a failed task's leftover: not in the manifest
        },
    )
    upload(
        aws,
        older,
        {
            "manifest": dp_manifest(BUCKET, older, [UUID_1]),
            UUID_1: lines(r'{"name":{"s":"Old"},"city":{"s":"Backup"}}'),
            "_SUCCESS": b"",
        },
    )
    folder_table, parent_table = unique("dp-folder"), unique("dp-parent")
    create_dest_table(aws, folder_table)
    create_dest_table(aws, parent_table)

    assert main(import_args(aws, f"s3://{BUCKET}/{newer}/", folder_table)) == ExitCode.OK
    err = capsys.readouterr().err
    assert f"ignored, not in the backup's manifest: {STRAY}" in err
    assert "Data Pipeline backup (manifest)" in err
    assert_table_holds(aws, folder_table, [ALICE, BOB, CAROL_FROM_DP])

    # The folder above the dated folders: the newest backup is taken.
    assert main(import_args(aws, f"s3://{BUCKET}/{prefix}/backups/", parent_table)) == ExitCode.OK
    assert f"ignored, not in the backup's manifest: {STRAY}" in capsys.readouterr().err
    assert_table_holds(aws, parent_table, [ALICE, BOB, CAROL_FROM_DP])


# --- Data Pipeline, Hive era ------------------------------------------------------------------


def test_data_pipeline_hive_era_folder(aws: LocalAWS, capsys: pytest.CaptureFixture[str]) -> None:
    folder = unique("hive") + "/2019-06-01-00-00-00"
    upload(
        aws,
        folder,
        {
            "000000_0": lines(ALICE_HIVE, BOB_HIVE),
            "000001_0": lines(CAROL_HIVE),
            "_SUCCESS": b"",
            ".000000_0.crc": b"crc\x00\x01\x02 not data",
        },
    )
    table = unique("hive")
    create_dest_table(aws, table)

    assert main(import_args(aws, f"s3://{BUCKET}/{folder}/", table)) == ExitCode.OK
    captured = capsys.readouterr()
    assert "Data Pipeline backup (Hive era) (datapipeline-hive)" in captured.err
    assert f"imported 3 items from 2 files into {table}" in captured.out
    assert_table_holds(aws, table, [ALICE, BOB, CAROL_FROM_HIVE])


def empty_first_folder(kind: str) -> tuple[dict[str, bytes], list[Item]]:
    """Hive writes an empty file for a reducer with no rows; AWS an empty part for an empty
    partition. Sorted by name, the empty one comes first here."""
    if kind == "hive":
        return {"000000_0": b"", "000001_0": lines(ALICE_HIVE, BOB_HIVE), "_SUCCESS": b""}, [
            ALICE,
            BOB,
        ]
    return {
        "3c5vgpw2kqyrzpwjtclbvnamjy.json.gz": gz(b""),
        "t7xkqzjb5ey3hmzw4fd2lmdvbu.json.gz": gz(lines(ALICE_JSON, BOB_JSON)),
    }, [ALICE, BOB]


@pytest.mark.parametrize("kind", ["hive", "native data/ folder"])
def test_folder_whose_first_file_is_empty_is_detected(
    aws: LocalAWS, tmp_path: Path, kind: str
) -> None:
    objects, expected = empty_first_folder(kind)
    lay_out(tmp_path, objects)
    table = unique("empty-first")
    create_dest_table(aws, table)

    assert main(import_args(aws, str(tmp_path), table)) == ExitCode.OK
    assert_table_holds(aws, table, expected)


@pytest.mark.parametrize(
    ("kind", "fmt"), [("hive", "datapipeline-hive"), ("native data/ folder", "native-json")]
)
def test_format_override_reads_a_folder_whose_first_file_is_empty(
    aws: LocalAWS, tmp_path: Path, kind: str, fmt: str
) -> None:
    """--format skips detection: the way around the bug above."""
    objects, expected = empty_first_folder(kind)
    lay_out(tmp_path, objects)
    table = unique("empty-first-told")
    create_dest_table(aws, table)

    assert main(import_args(aws, str(tmp_path), table, "--format", fmt)) == ExitCode.OK
    assert_table_holds(aws, table, expected)


# --- one data file as SOURCE ------------------------------------------------------------------


def test_single_native_json_file_from_s3(aws: LocalAWS) -> None:
    key = f"{unique('single')}/AWSDynamoDB/{OLD_ID}/data/t7xkqzjb5ey3hmzw4fd2lmdvbu.json.gz"
    upload(aws, key.rsplit("/", 1)[0], {key.rsplit("/", 1)[1]: gz(lines(ALICE_JSON, BOB_JSON))})
    table = unique("single-json")
    create_dest_table(aws, table)

    result = api.import_(dest=aws.dest, source_url=f"s3://{BUCKET}/{key}", table=table)

    assert (result.item_count, result.files) == (2, 1)
    assert_table_holds(aws, table, [ALICE, BOB])


def test_single_data_pipeline_file_from_a_local_path(
    aws: LocalAWS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / UUID_1
    path.write_bytes(lines(ALICE_DP, BOB_DP, CAROL_DP))
    (tmp_path / UUID_2).write_bytes(lines(r'{"name":{"s":"Other"},"city":{"s":"File"}}'))
    table = unique("single-dp")
    create_dest_table(aws, table)

    assert main(import_args(aws, str(path), table)) == ExitCode.OK
    assert f"imported 3 items from 1 files into {table}" in capsys.readouterr().out
    assert_table_holds(aws, table, [ALICE, BOB, CAROL_FROM_DP])


# --- --format ---------------------------------------------------------------------------------


def test_format_override_reads_what_detection_gets_wrong(
    aws: LocalAWS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Data Pipeline line whose first attribute is named ``Item`` looks like DYNAMODB_JSON."""
    path = tmp_path / "part-00000"
    path.write_bytes(lines(r'{"Item":{"s":"widget"},"name":{"s":"Ann"},"city":{"s":"Bonn"}}'))
    guessed, told = unique("guessed"), unique("told")
    create_dest_table(aws, guessed)
    create_dest_table(aws, told)

    assert main(import_args(aws, str(path), guessed)) == ExitCode.FAILURE
    assert "(native-json)" in capsys.readouterr().err
    assert scan_items(aws.dest, guessed) == []

    assert main(import_args(aws, str(path), told, "--format", "datapipeline")) == ExitCode.OK
    assert "(datapipeline)" in capsys.readouterr().err
    assert_table_holds(
        aws, told, [{"Item": {"S": "widget"}, "name": {"S": "Ann"}, "city": {"S": "Bonn"}}]
    )


# --- our own ION and Data Pipeline exports, read back -----------------------------------------


@pytest.mark.parametrize("compression", ["zstd", "none"])
@pytest.mark.parametrize("fmt", ["native-ion", "datapipeline"])
def test_export_in_ion_or_data_pipeline_format_reimports_identically(
    aws: LocalAWS, fmt: str, compression: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source_table, dest_table = unique("rt-src"), unique("rt-dst")
    create_customer_table(aws, customer_items(40, seed=11), table=source_table)
    prefix = unique("rt")
    staging = f"s3://{BUCKET}/{prefix}/"
    exported = main(
        [
            "export",
            "--table",
            source_table,
            "--staging",
            staging,
            "--format",
            fmt,
            "--compression",
            compression,
            "--segments",
            "2",
            "--source-role-arn",
            SOURCE_ROLE,
            "--source-endpoint-url",
            aws.endpoint_url,
            "--source-region",
            LOCAL_REGION,
            "--bucket-owner",  # the source exports into the destination's bucket
            DEST_ACCOUNT,
            "--progress",
            "off",
        ]
    )
    assert exported == ExitCode.OK, capsys.readouterr().err

    s3 = aws.client(DEST_ROLE, "s3")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for o in page.get("Contents", [])
        if "/ddbmigrate/" not in o["Key"]
    ]
    if fmt == "native-ion":
        data = [k for k in keys if "/data/" in k]
        suffix = ".ion.zst" if compression == "zstd" else ".ion"
    else:
        data = [k for k in keys if k.rsplit("/", 1)[1] not in ("manifest", "_SUCCESS")]
        suffix = ".zst" if compression == "zstd" else ""
        assert any(k.endswith("/manifest") for k in keys)
        create_dest_table(aws, dest_table)  # a Data Pipeline backup carries no schema
    names = [k.rsplit("/", 1)[1] for k in data]
    assert names
    assert all(n.endswith(suffix) for n in names), names
    assert all("." not in n.removesuffix(suffix) for n in names if fmt == "datapipeline"), names
    first = s3.get_object(Bucket=BUCKET, Key=data[0])["Body"].read()
    assert first.startswith(ZSTD_MAGIC) == (compression == "zstd")

    assert main(import_args(aws, staging, dest_table)) == ExitCode.OK
    assert "imported 40 items" in capsys.readouterr().out

    source = dynamodb_client(aws.endpoint_url, SOURCE_ROLE)
    dest = dynamodb_client(aws.endpoint_url, DEST_ROLE)
    assert_same_items(source, source_table, dest, dest_table, count=40)
