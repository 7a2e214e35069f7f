"""``ddbmigrate-table.json`` is covered by the export's checksums, and what it creates is
printed first; an older export's file (no checksum) is used with a warning, and provisioned
capacity above 12,000 RCU / 4,000 WCU from it needs ``--allow-unverified-capacity``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from ddbmigrate import api
from ddbmigrate.errors import CapacityGuardError, CorruptDataError
from ddbmigrate.formats.native import md5_b64
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import MotoServer
from ddbmigrate.ports import NullObserver

pytestmark = pytest.mark.integration

ITEMS = 12
CHECKSUM_FIELD = "ddbmigrateTableFileMd5Checksum"


@pytest.fixture(scope="module")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


@pytest.fixture
def aws(local_aws: LocalAWS, aws_env: None) -> LocalAWS:
    return local_aws


class Lines(NullObserver):
    """Keeps every message line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def exported(aws: LocalAWS, staging: Path) -> Path:
    """A provisioned 5/5 table of ITEMS items, exported; its export folder."""
    name = f"tf-src-{uuid.uuid4().hex[:8]}"
    client = aws.client(SOURCE_ROLE, "dynamodb")
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
    )
    for n in range(ITEMS):
        client.put_item(TableName=name, Item={"pk": {"S": f"k{n:02d}"}})
    result = api.export(
        source=aws.source,
        table=name,
        staging=api.StagingOptions(url=str(staging)),
        segments=1,
        workers=1,
        threads=1,
    )
    return staging / result.export_dir


def edit_table_file(folder: Path) -> None:
    """What the issue found created as written: 40,000/40,000, deletion protection, a tag."""
    path = folder / "ddbmigrate-table.json"
    body = orjson.loads(path.read_bytes())
    body["Table"]["ProvisionedThroughput"].update(
        ReadCapacityUnits=40_000, WriteCapacityUnits=40_000
    )
    body["Table"]["DeletionProtectionEnabled"] = True
    body["Tags"] = [{"Key": "owner", "Value": "mallory"}]
    path.write_bytes(orjson.dumps(body))


def as_older_export(folder: Path) -> None:
    """An export by a ddbmigrate that recorded no checksum of its table file."""
    summary = orjson.loads((folder / "manifest-summary.json").read_bytes())
    assert CHECKSUM_FIELD in summary  # this version records it
    del summary[CHECKSUM_FIELD]
    data = orjson.dumps(summary)
    (folder / "manifest-summary.json").write_bytes(data)
    (folder / "manifest-summary.md5").write_bytes(md5_b64(data).encode())


def tables(aws: LocalAWS) -> list[str]:
    # Every page: a session of many tests holds more than one page (100) of tables.
    pages = aws.client(DEST_ROLE, "dynamodb").get_paginator("list_tables").paginate()
    return [name for page in pages for name in page["TableNames"]]


def import_into(aws: LocalAWS, folder: Path, table: str, **kwargs: Any) -> Lines:
    lines = Lines()
    api.import_(
        dest=aws.dest,
        source_url=f"{folder}/",
        table=table,
        workers=1,
        threads=1,
        observer=lines,
        **kwargs,
    )
    return lines


def test_an_edited_table_file_is_refused_naming_it(aws: LocalAWS, tmp_path: Path) -> None:
    folder = exported(aws, tmp_path / "staging")
    edit_table_file(folder)
    dest = f"tf-edited-{uuid.uuid4().hex[:6]}"

    with pytest.raises(CorruptDataError) as caught:
        import_into(aws, folder, dest, allow_unverified_capacity=True)

    assert f"{folder}/ddbmigrate-table.json does not match the MD5" in caught.value.message
    assert "manifest-summary.json" in caught.value.message
    assert dest not in tables(aws)


def test_the_table_is_printed_before_it_is_created(aws: LocalAWS, tmp_path: Path) -> None:
    folder = exported(aws, tmp_path / "staging")
    dest = f"tf-shown-{uuid.uuid4().hex[:6]}"

    lines = import_into(aws, folder, dest).lines

    shown = next(i for i, line in enumerate(lines) if line.startswith("table to create"))
    assert lines[shown] == (f"table to create  {dest!r}: key pk:S, provisioned 5 RCU / 5 WCU")
    assert lines[shown + 1] == "  settings: none"
    assert not any(line.startswith("warning:") for line in lines)
    assert dest in tables(aws)


def test_an_older_export_needs_the_flag_for_capacity_above_the_ceiling(
    aws: LocalAWS, tmp_path: Path
) -> None:
    folder = exported(aws, tmp_path / "staging")
    as_older_export(folder)
    edit_table_file(folder)
    dest = f"tf-legacy-{uuid.uuid4().hex[:6]}"

    with pytest.raises(CapacityGuardError) as caught:
        import_into(aws, folder, dest)

    assert "is not covered by the export's checksums" in caught.value.message
    assert "table 40,000 RCU (over 12,000), table 40,000 WCU (over 4,000)" in (caught.value.message)
    assert caught.value.hint is not None
    assert "--allow-unverified-capacity" in caught.value.hint
    assert dest not in tables(aws)

    lines = import_into(aws, folder, dest, allow_unverified_capacity=True).lines

    assert any(line.startswith("warning: ddbmigrate-table.json is not covered") for line in lines)
    assert f"table to create  {dest!r}: key pk:S, provisioned 40,000 RCU / 40,000 WCU" in lines
    client = aws.client(DEST_ROLE, "dynamodb")
    description = client.describe_table(TableName=dest)["Table"]
    assert description["ProvisionedThroughput"]["ReadCapacityUnits"] == 40_000


def test_an_older_export_within_the_ceiling_is_imported_with_a_warning(
    aws: LocalAWS, tmp_path: Path
) -> None:
    folder = exported(aws, tmp_path / "staging")
    as_older_export(folder)
    dest = f"tf-legacy-ok-{uuid.uuid4().hex[:6]}"

    lines = import_into(aws, folder, dest).lines

    assert any(line.startswith("warning: ddbmigrate-table.json is not covered") for line in lines)
    client = aws.client(DEST_ROLE, "dynamodb")
    pages = client.get_paginator("scan").paginate(TableName=dest, ConsistentRead=True)
    keys = sorted(i["pk"]["S"] for page in pages for i in page["Items"])
    assert keys == [f"k{n:02d}" for n in range(ITEMS)]
