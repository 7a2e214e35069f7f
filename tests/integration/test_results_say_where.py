"""Through the installed command against the embedded AWS: ``--json`` results say where the
run is (``run_id``, ``staging``, ``report``), and a pipeline table with ``validate: false``
ends as ``copied`` — not as matched — with the run's exit code 6 and a line saying so."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import orjson

from alltypes import create_source
from cliprocess import ddbmigrate, side
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from itemcompare import assert_same_items, dynamodb_client

SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"
DEST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-test"
TIMEOUT = 180.0


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return ddbmigrate(*args, home=tmp_path, timeout=TIMEOUT, cwd=tmp_path)


def _runs(staging: Path) -> list[str]:
    return sorted(p.name for p in (staging / "ddbmigrate" / "runs").iterdir())


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    body: dict[str, Any] = orjson.loads(done.stdout)
    return body


def test_json_results_carry_the_run_id_staging_and_report(
    moto_server: MotoServer, aws_env: None, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    table = f"json-{uuid.uuid4().hex[:8]}"
    create_source(dynamodb_client(url, SOURCE_ROLE), table, items=20)
    source, dest = side("source", url, SOURCE_ROLE), side("dest", url, DEST_ROLE)
    staging, exports = tmp_path / "staging", tmp_path / "exports"
    quiet = ("--progress", "off", "--workers", "1", "--json")

    migrated = _json(
        _cli(
            tmp_path,
            *("migrate", "--source-table", table, "--dest-table", f"{table}-copy"),
            *("--staging", str(staging), "--report-html", "report.html", *quiet),
            *source,
            *dest,
        )
    )
    exported = _json(
        _cli(tmp_path, "export", "--table", table, "--staging", str(exports), *quiet, *source)
    )
    validated = _json(
        _cli(
            tmp_path,
            "validate",
            "--source-table",
            table,
            "--dest-table",
            f"{table}-copy",
            *quiet,
            *source,
            *dest,
        )
    )

    assert migrated["run_id"] == _runs(staging)[0]
    assert (migrated["staging"], migrated["report"]) == (str(staging), ["report.html"])
    assert (tmp_path / "report.html").is_file()
    assert migrated["validation"]["match"] is True
    assert exported["run_id"] == _runs(exports)[0]
    assert (exported["staging"], exported["report"]) == (str(exports), [])
    assert exported["items"] == 20
    assert (validated["run_id"], validated["staging"], validated["match"]) == (None, None, True)


def test_a_pipeline_table_not_validated_ends_copied_and_the_run_exits_6(
    moto_server: MotoServer, aws_env: None, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    src_client, dst_client = dynamodb_client(url, SOURCE_ROLE), dynamodb_client(url, DEST_ROLE)
    checked, unchecked = (f"pv-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for table in (checked, unchecked):
        create_source(src_client, table, items=15)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"""\
version: 1
source:
  role_arn: {SOURCE_ROLE}
  endpoint_url: {url}
  region: {LOCAL_REGION}
destination:
  role_arn: {DEST_ROLE}
  endpoint_url: {url}
  region: {LOCAL_REGION}
staging: {tmp_path / "staging"}
workers: 1
tables:
  - {checked}
  - name: {unchecked}
    validate: false
"""
    )

    first = _cli(tmp_path, "run", str(pipeline), "--progress", "off")
    again = _cli(tmp_path, "run", str(pipeline), "--progress", "off", "--json")

    assert first.returncode == ExitCode.NOT_VALIDATED == 6, first.stderr
    assert first.stdout.splitlines() == [
        f"match     {checked} -> {checked}",
        f"copied    {unchecked} -> {unchecked} (not validated)",
        "1 of 2 tables copied, not validated (validate: false): exit 6, not 0",
    ]
    assert_same_items(src_client, unchecked, dst_client, unchecked)
    # Run again: both finished earlier; the unvalidated one is still not proven.
    assert again.returncode == ExitCode.NOT_VALIDATED, again.stderr
    statuses = [(o["source_table"], o["status"]) for o in orjson.loads(again.stdout)]
    assert statuses == [(checked, "done"), (unchecked, "copied")]
