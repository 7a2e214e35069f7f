"""The real command against two DynamoDB implementations: moto and dynalite (tests/dynalite.py).

Each end-to-end path runs on both; the tests that need what dynalite lacks (PITR, TTL
writes) prove that the optional table settings are best effort, say so, and that
``--strict-settings`` makes them an error. Staging is a local directory: dynalite has no S3.
Copies are judged with tests/itemcompare.py, never with the tool's validator.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from alltypes import create_source
from cliprocess import cli_env
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from dynalite import DynaliteServer
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.integration

SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"
DEST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-test"


@dataclass(frozen=True)
class SideAt:
    """One side of a run: the tool's flags for it, and the test's own client."""

    flags: list[str]
    client: Any


@dataclass(frozen=True)
class Endpoints:
    name: str
    source: SideAt
    dest: SideAt


def unlabelled(stderr: str) -> list[str]:
    """The lines of ``stderr`` without the ``[table] `` label every console line starts with."""
    return [re.sub(r"^\[[^\]]*\] ", "", line) for line in stderr.splitlines()]


def _moto_side(url: str, role: str, flag: str) -> SideAt:
    flags = [f"--{flag}-endpoint-url", url, f"--{flag}-role-arn", role]
    return SideAt([*flags, f"--{flag}-region", LOCAL_REGION], dynamodb_client(url, role))


def _dynalite_side(url: str, flag: str) -> SideAt:
    flags = [f"--{flag}-endpoint-url", url, f"--{flag}-region", LOCAL_REGION]
    return SideAt(flags, dynamodb_client(url, None))


@pytest.fixture(params=["moto", "dynalite"])
def endpoints(
    request: pytest.FixtureRequest,
    moto_server: MotoServer,
    dynalite_server: DynaliteServer,
    aws_env: None,
) -> Endpoints:
    """Both sides on moto (two accounts) or both on dynalite (its one account)."""
    if request.param == "moto":
        url = moto_server.endpoint_url
        return Endpoints(
            "moto", _moto_side(url, SOURCE_ROLE, "source"), _moto_side(url, DEST_ROLE, "dest")
        )
    url = dynalite_server.endpoint_url
    return Endpoints("dynalite", _dynalite_side(url, "source"), _dynalite_side(url, "dest"))


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def ddbmigrate(*args: str, home: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The command, as a user runs it (this interpreter, so PYTHONPATH applies); ``home``:
    a test's folder for the environment of tests/cliprocess.py."""
    return subprocess.run(
        [sys.executable, "-m", "ddbmigrate", *args],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def migrate(
    endpoints: Endpoints, source: str, dest: str, staging: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return ddbmigrate(
        "migrate",
        "--source-table",
        source,
        "--dest-table",
        dest,
        "--staging",
        str(staging),
        "--workers",
        "1",
        "--threads",
        "2",
        "--progress",
        "off",
        *endpoints.source.flags,
        *endpoints.dest.flags,
        *extra,
        home=staging.parent,
    )


def report_of(logs: Path) -> dict[str, Any]:
    """report.json of the one run written under ``--log-location``."""
    (found,) = logs.rglob("report.json")
    return orjson.loads(found.read_bytes())  # type: ignore[no-any-return]


def settings_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (table,) = report["tables"]
    return {entry["setting"]: entry for entry in table["settings"]}


def gsi_names(client: Any, table: str) -> set[str]:
    description = client.describe_table(TableName=table)["Table"]
    return {index["IndexName"] for index in description.get("GlobalSecondaryIndexes") or []}


def test_migrate_copies_a_gsi_and_every_attribute_type(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    source, dest = unique("src"), unique("dst")
    create_source(endpoints.source.client, source, items=40)

    done = migrate(endpoints, source, dest, tmp_path / "staging")

    assert done.returncode == 0, done.stderr
    assert_same_items(endpoints.source.client, source, endpoints.dest.client, dest)
    assert gsi_names(endpoints.dest.client, dest) == {"by-city"}
    assert "MATCH" in done.stdout + done.stderr


def test_export_import_validate_each_on_its_own(endpoints: Endpoints, tmp_path: Path) -> None:
    source, dest = unique("src"), unique("dst")
    create_source(endpoints.source.client, source, items=30)
    staging = str(tmp_path / "exports")

    exported = ddbmigrate(
        "export", "--table", source, "--staging", staging, *endpoints.source.flags, home=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    imported = ddbmigrate(
        "import", staging, "--dest-table", dest, *endpoints.dest.flags, home=tmp_path
    )
    assert imported.returncode == 0, imported.stderr
    validated = ddbmigrate(
        "validate",
        "--source-table",
        source,
        "--dest-table",
        dest,
        *endpoints.source.flags,
        *endpoints.dest.flags,
        home=tmp_path,
    )

    assert validated.returncode == 0, validated.stderr
    assert_same_items(endpoints.source.client, source, endpoints.dest.client, dest)


@pytest.fixture
def on_dynalite(dynalite_server: DynaliteServer, aws_env: None) -> Endpoints:
    url = dynalite_server.endpoint_url
    return Endpoints("dynalite", _dynalite_side(url, "source"), _dynalite_side(url, "dest"))


def test_dynalite_source_without_pitr_is_copied_with_a_warning_and_a_report_entry(
    on_dynalite: Endpoints, tmp_path: Path
) -> None:
    source, dest = unique("src"), unique("dst")
    client = on_dynalite.source.client
    create_source(client, source, items=10)
    arn = client.describe_table(TableName=source)["Table"]["TableArn"]
    client.tag_resource(ResourceArn=arn, Tags=[{"Key": "team", "Value": "blue"}])
    logs, html = tmp_path / "logs", tmp_path / "report.html"

    done = migrate(
        on_dynalite,
        source,
        dest,
        tmp_path / "staging",
        "--log-location",
        str(logs),
        "--report-html",
        str(html),
    )

    assert done.returncode == 0, done.stderr
    warnings = [w for w in done.stderr.splitlines() if w.startswith(f"[{source}] not copied:")]
    warnings = [w.removeprefix(f"[{source}] ") for w in warnings]
    assert warnings == [
        "not copied: point-in-time recovery — the source endpoint does not support "
        "DescribeContinuousBackups"
    ]
    settings = settings_of(report_of(logs))
    assert settings["pitr"] == {
        "setting": "pitr",
        "label": "point-in-time recovery",
        "copied": False,
        "reason": "the source endpoint does not support DescribeContinuousBackups",
    }
    assert settings["tags"]["copied"] is True
    page = html.read_text()
    assert "setting point-in-time recovery</td>" in page
    assert "not copied</td>" in page
    assert "the source endpoint does not support DescribeContinuousBackups" in page
    dest_arn = client.describe_table(TableName=dest)["Table"]["TableArn"]
    assert client.list_tags_of_resource(ResourceArn=dest_arn)["Tags"] == [
        {"Key": "team", "Value": "blue"}
    ]
    assert_same_items(client, source, client, dest)


def test_settings_a_dynalite_destination_lacks_are_warned_and_reported(
    moto_server: MotoServer, dynalite_server: DynaliteServer, aws_env: None, tmp_path: Path
) -> None:
    """moto source with TTL, PITR, tags, a stream and deletion protection -> dynalite, which
    cannot set TTL or PITR, and takes a stream and deletion protection in CreateTable and
    ignores them (the UpdateTable that would set them it refuses: the run used to stop)."""
    moto = _moto_side(moto_server.endpoint_url, SOURCE_ROLE, "source")
    dyn = _dynalite_side(dynalite_server.endpoint_url, "dest")
    source, dest = unique("src"), unique("dst")
    create_source(moto.client, source, items=10)
    moto.client.update_time_to_live(
        TableName=source, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    moto.client.update_continuous_backups(
        TableName=source, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    moto.client.update_table(
        TableName=source,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        DeletionProtectionEnabled=True,
    )
    logs = tmp_path / "logs"
    mixed = Endpoints("mixed", moto, dyn)

    done = migrate(mixed, source, dest, tmp_path / "staging", "--log-location", str(logs))

    assert done.returncode == 0, done.stderr
    prefix = f"[{source}] "
    warnings = sorted(
        w.removeprefix(prefix) for w in done.stderr.splitlines() if w.startswith(prefix + "not ")
    )
    assert warnings == [
        "not copied: TTL — the destination endpoint does not support UpdateTimeToLive",
        "not copied: deletion protection — the destination endpoint does not support "
        "DeletionProtectionEnabled in CreateTable",
        "not copied: point-in-time recovery — the destination endpoint does not support "
        "UpdateContinuousBackups",
        "not copied: stream — the destination endpoint does not support StreamSpecification "
        "in CreateTable",
    ]
    settings = settings_of(report_of(logs))
    assert settings["stream"]["copied"] is False
    assert settings["deletion-protection"]["copied"] is False
    assert settings["ttl"]["copied"] is False
    assert settings["ttl"]["reason"] == (
        "the destination endpoint does not support UpdateTimeToLive"
    )
    assert settings["pitr"]["copied"] is False
    assert_same_items(moto.client, source, dyn.client, dest)


@pytest.mark.parametrize(
    "extra",
    [["--strict-settings"], ["--strict-settings", "--settings", "ttl,tags,pitr"]],
    ids=["all", "list"],
)
def test_strict_settings_stops_before_anything_moves(
    on_dynalite: Endpoints, tmp_path: Path, extra: list[str]
) -> None:
    source, dest = unique("src"), unique("dst")
    create_source(on_dynalite.source.client, source, items=5)

    done = migrate(on_dynalite, source, dest, tmp_path / "staging", *extra)

    assert done.returncode == 1, done.stderr
    assert (
        "error: point-in-time recovery cannot be copied: the source endpoint does not "
        "support DescribeContinuousBackups"
    ) in done.stderr
    assert "Traceback" not in done.stderr
    assert dest not in on_dynalite.dest.client.list_tables()["TableNames"]


def test_a_migrate_stopped_at_the_destination_by_strict_settings_resumes_without_it(
    moto_server: MotoServer, dynalite_server: DynaliteServer, aws_env: None, tmp_path: Path
) -> None:
    """The table is created before dynalite refuses its TTL; the same command without
    ``--strict-settings`` finishes the run (it used to stay strict: a run no flag could end)."""
    moto = _moto_side(moto_server.endpoint_url, SOURCE_ROLE, "source")
    dyn = _dynalite_side(dynalite_server.endpoint_url, "dest")
    source, dest = unique("src"), unique("dst")
    create_source(moto.client, source, items=5)
    moto.client.update_time_to_live(
        TableName=source, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    mixed, staging = Endpoints("mixed", moto, dyn), tmp_path / "staging"

    refused = migrate(mixed, source, dest, staging, "--strict-settings")
    resumed = migrate(mixed, source, dest, staging)

    assert refused.returncode == 1, refused.stderr
    assert (
        "error: TTL cannot be copied: the destination endpoint does not support UpdateTimeToLive"
    ) in refused.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run" in resumed.stderr
    assert (
        "not copied: TTL — the destination endpoint does not support UpdateTimeToLive"
    ) in unlabelled(resumed.stderr)
    assert_same_items(moto.client, source, dyn.client, dest)


def test_strict_settings_passes_when_the_lacking_setting_is_left_out(
    on_dynalite: Endpoints, tmp_path: Path
) -> None:
    source, dest = unique("src"), unique("dst")
    client = on_dynalite.source.client
    create_source(client, source, items=5)
    staging = tmp_path / "staging"

    done = migrate(
        on_dynalite, source, dest, staging, "--strict-settings", "--settings", "ttl,tags"
    )

    assert done.returncode == 0, done.stderr
    assert "not copied" not in done.stderr
    assert_same_items(client, source, client, dest)


def test_a_pipeline_file_chooses_settings_and_strictness(
    on_dynalite: Endpoints, dynalite_server: DynaliteServer, tmp_path: Path
) -> None:
    source, dest = unique("src"), unique("dst")
    create_source(on_dynalite.source.client, source, items=5)
    side = f"{{endpoint_url: {dynalite_server.endpoint_url}, region: {LOCAL_REGION}}}"
    text = (
        f"version: 1\nsource: {side}\ndestination: {side}\nstaging: {tmp_path / 'staging'}\n"
        f"tables:\n  - name: {source}\n    to: {dest}\nworkers: 1\nstrict_settings: true\n"
    )
    strict = tmp_path / "strict.yaml"
    strict.write_text(text)
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(text + "settings: ttl,tags\n")

    refused = ddbmigrate("run", str(strict), "--progress", "off", home=tmp_path)
    done = ddbmigrate("run", str(lenient), "--progress", "off", home=tmp_path)

    assert refused.returncode == 1, refused.stderr
    assert "point-in-time recovery cannot be copied" in refused.stderr + refused.stdout
    assert done.returncode == 0, done.stderr
    assert_same_items(on_dynalite.source.client, source, on_dynalite.dest.client, dest)


def test_the_schema_command_creates_the_table_and_warns_about_what_it_cannot_read(
    on_dynalite: Endpoints, tmp_path: Path
) -> None:
    source, dest = unique("src"), unique("dst")
    create_source(on_dynalite.source.client, source, items=1)

    done = ddbmigrate(
        "schema",
        "--source-table",
        source,
        "--dest-table",
        dest,
        *on_dynalite.source.flags,
        *on_dynalite.dest.flags,
        home=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert (
        f"[{source}] not copied: point-in-time recovery — the source endpoint does not support "
        "DescribeContinuousBackups"
    ) in done.stderr.splitlines()
    assert gsi_names(on_dynalite.dest.client, dest) == {"by-city"}


def test_the_schema_command_with_strict_settings_stops_before_creating_the_table(
    on_dynalite: Endpoints, tmp_path: Path
) -> None:
    source, dest = unique("src"), unique("dst")
    create_source(on_dynalite.source.client, source, items=1)
    sides = [*on_dynalite.source.flags, *on_dynalite.dest.flags]
    names = ["--source-table", source, "--dest-table", dest]

    refused = ddbmigrate("schema", *names, *sides, "--strict-settings", home=tmp_path)
    assert dest not in on_dynalite.dest.client.list_tables()["TableNames"]
    left_out = ddbmigrate(
        "schema", *names, *sides, "--strict-settings", "--settings", "ttl,tags", home=tmp_path
    )

    assert refused.returncode == 1, refused.stderr
    assert (
        "error: point-in-time recovery cannot be copied: the source endpoint does not "
        "support DescribeContinuousBackups"
    ) in refused.stderr
    assert "Traceback" not in refused.stderr
    assert left_out.returncode == 0, left_out.stderr
    assert "not copied" not in left_out.stderr
    assert gsi_names(on_dynalite.dest.client, dest) == {"by-city"}


def export_with_ttl_and_pitr(moto_server: MotoServer, tmp_path: Path) -> tuple[SideAt, str, str]:
    """A moto table with TTL and PITR, exported to a local folder: (its side, name, folder)."""
    moto = _moto_side(moto_server.endpoint_url, SOURCE_ROLE, "source")
    source, staging = unique("src"), str(tmp_path / "exports")
    create_source(moto.client, source, items=10)
    moto.client.update_time_to_live(
        TableName=source, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    moto.client.update_continuous_backups(
        TableName=source, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    done = ddbmigrate("export", "--table", source, "--staging", staging, *moto.flags, home=tmp_path)
    assert done.returncode == 0, done.stderr
    return moto, source, staging


def test_import_into_dynalite_warns_about_the_settings_it_cannot_set(
    moto_server: MotoServer, dynalite_server: DynaliteServer, aws_env: None, tmp_path: Path
) -> None:
    """The import creates the table from the export's ddbmigrate-table.json (TTL and PITR
    on): best effort, one line per setting, as migrate."""
    moto, source, staging = export_with_ttl_and_pitr(moto_server, tmp_path)
    dyn = _dynalite_side(dynalite_server.endpoint_url, "dest")
    dest = unique("dst")

    done = ddbmigrate("import", staging, "--dest-table", dest, *dyn.flags, home=tmp_path)

    assert done.returncode == 0, done.stderr
    warnings = sorted(line for line in unlabelled(done.stderr) if line.startswith("not copied"))
    assert warnings == [
        "not copied: TTL — the destination endpoint does not support UpdateTimeToLive",
        "not copied: point-in-time recovery — the destination endpoint does not support "
        "UpdateContinuousBackups",
    ]
    assert_same_items(moto.client, source, dyn.client, dest)


def test_import_with_strict_settings_stops_at_a_setting_dynalite_cannot_set(
    moto_server: MotoServer, dynalite_server: DynaliteServer, aws_env: None, tmp_path: Path
) -> None:
    moto, source, staging = export_with_ttl_and_pitr(moto_server, tmp_path)
    dyn = _dynalite_side(dynalite_server.endpoint_url, "dest")
    dest, other = unique("dst"), unique("dst")

    refused = ddbmigrate(
        "import", staging, "--dest-table", dest, "--strict-settings", *dyn.flags, home=tmp_path
    )
    left_out = ddbmigrate(
        "import",
        staging,
        *("--dest-table", other, "--strict-settings", "--settings", "tags,stream"),
        *dyn.flags,
        home=tmp_path,
    )

    assert refused.returncode == 1, refused.stderr
    assert (
        "error: TTL cannot be copied: the destination endpoint does not support UpdateTimeToLive"
    ) in refused.stderr
    assert "Traceback" not in refused.stderr
    assert dyn.client.scan(TableName=dest, Select="COUNT")["Count"] == 0  # no item written
    assert left_out.returncode == 0, left_out.stderr
    assert "not copied" not in left_out.stderr
    assert_same_items(moto.client, source, dyn.client, other)
    # The same import without the flag resumes the stopped run and finishes the table.
    resumed = ddbmigrate("import", staging, "--dest-table", dest, *dyn.flags, home=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run" in resumed.stderr
    assert "not copied: TTL — the destination endpoint does not support UpdateTimeToLive" in (
        unlabelled(resumed.stderr)
    )
    assert_same_items(moto.client, source, dyn.client, dest)


def test_an_unknown_setting_name_is_a_usage_error(tmp_path: Path) -> None:
    done = ddbmigrate(
        "migrate",
        *("--source-table", "t", "--staging", str(tmp_path), "--settings", "ttl,pirt"),
        home=tmp_path,
    )

    assert done.returncode == 2
    assert "error: --settings 'ttl,pirt': unknown setting(s) pirt" in done.stderr
    assert "Traceback" not in done.stderr
