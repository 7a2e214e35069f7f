"""One progress and log style (issue 14): every line ``[table] step: …``, thousands separators
in every count, rates over the items this process moved, every bad profile in one error, and
a ``--read-percent`` that is not a fraction pointed to ``--max-rcu``."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from alltypes import create_source
from cliprocess import ddbmigrate
from ddbmigrate.cli.output import export_line, import_line
from ddbmigrate.exporter import ExportResult
from ddbmigrate.importer import ImportResult
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.model import PartInfo
from ddbmigrate.validator import ValidationReport
from itemcompare import dynamodb_client

pytestmark = pytest.mark.cli

SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"
DEST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-test"


def side(url: str, role: str) -> str:
    return f"{{endpoint_url: {url}, region: {LOCAL_REGION}, role_arn: '{role}'}}"


def test_every_line_of_a_pipeline_and_of_a_migrate_is_table_then_step(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    tables = [f"style-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for table in tables:
        create_source(dynamodb_client(url, SOURCE_ROLE), table, items=5)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"source: {side(url, SOURCE_ROLE)}\ndestination: {side(url, DEST_ROLE)}\n"
        f"staging: {tmp_path / 'staging'}\ntables: [{', '.join(tables)}]\nworkers: 1\n"
    )
    run = ddbmigrate("run", str(pipeline), "--progress", "off", home=tmp_path)
    assert run.returncode == 0, run.stderr
    migrate = ddbmigrate(
        *("migrate", "--source-table", tables[0], "--dest-table", f"{tables[0]}-again"),
        *("--staging", str(tmp_path / "again"), "--progress", "off", "--workers", "1"),
        *("--source-endpoint-url", url, "--source-role-arn", SOURCE_ROLE),
        *("--dest-endpoint-url", url, "--dest-role-arn", DEST_ROLE),
        *("--source-region", LOCAL_REGION, "--dest-region", LOCAL_REGION),
        home=tmp_path,
    )
    assert migrate.returncode == 0, migrate.stderr
    for out, names in ((run, tables), (migrate, tables[:1])):
        lines = [line for line in out.stderr.splitlines() if line]
        prefixes = tuple(f"[{name}] " for name in names)
        assert [line for line in lines if not line.startswith(prefixes)] == []
        for name in names:
            for step in ("export", "import", "validate"):
                assert f"[{name}] {step}: started" in lines
        assert "of 12,000 RCU/s" in out.stderr  # moto's warm throughput, with its separator


def test_counts_have_thousands_separators_and_rates_leave_out_earlier_items() -> None:
    part = PartInfo(key="data/a.json.gz", item_count=1_200, md5_b64="x", size=2048)
    resumed = ExportResult(
        export_id="e",
        export_dir="AWSDynamoDB/e",
        url="s3://b/AWSDynamoDB/e",
        item_count=1_200,
        parts=[part],
        bytes_written=2048,
        seconds=2.0,
        items_before=800,
    )
    assert export_line(resumed) == (
        "exported 1,200 items (800 before the stop) in 1 parts (2.0 KiB, 2.0 s, 200 items/s) "
        "to s3://b/AWSDynamoDB/e"
    )
    imported = ImportResult(item_count=5_000, files=2, seconds=4.0, items_before=1_000)
    assert import_line(imported, "t") == (
        "imported 5,000 items (1,000 before the stop) from 2 files into t (4.0 s, 1,000 items/s)"
    )
    verdict = ValidationReport(
        "a", "b", 1_081, 5_000, [], [], [], missing_count=3_919, differing_buckets=1
    )
    assert verdict.summary().startswith(
        "MISMATCH: source 1,081 items, destination 5,000; 3,919 missing"
    )


def test_every_bad_profile_is_reported_together(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[profile a]\nregion = us-east-1\n")
    args = ["migrate", "--source-table", "t", "--staging", "s3://bucket/x/"]
    both = ddbmigrate(
        *args, "--source-profile", "nope-a", "--dest-profile", "nope-b",
        home=tmp_path, AWS_CONFIG_FILE=str(config),
    )  # fmt: skip
    assert both.returncode == 2, both.stderr
    assert both.stderr.startswith(
        "error: AWS profiles 'nope-a' (--source-profile) and 'nope-b' (--dest-profile) are not "
        "configured\nhint: run `aws configure --profile NAME`"
    )
    one = ddbmigrate(
        *args, "--source-profile", "a", "--dest-profile", "nope-b",
        home=tmp_path, AWS_CONFIG_FILE=str(config),
    )  # fmt: skip
    assert one.returncode == 2, one.stderr
    assert one.stderr.startswith("error: AWS profile 'nope-b' is not configured\n")


def test_a_read_percent_above_the_range_points_to_max_rcu(tmp_path: Path) -> None:
    out = ddbmigrate(
        *("export", "--table", "t", "--staging", str(tmp_path / "s")),
        *("--source-region", LOCAL_REGION, "--read-percent", "5"),
        home=tmp_path,
    )
    assert out.returncode == 2, out.stderr
    error, hint = out.stderr.splitlines()[:2]
    assert error == (
        "error: --read-percent 5.0 is outside 0.1-1.5: it is a fraction of the table's "
        "capacity, like Data Pipeline's throughput percent"
    )
    assert hint.endswith("for a number of capacity units per second, pass --max-rcu 5")
    shown = ddbmigrate("export", "--help", home=tmp_path, COLUMNS="200")
    words = " ".join(shown.stdout.replace("│", " ").split())
    assert re.search(r"a fraction from 0\.1 to 1\.5 .*use --max-rcu\.", words), words
