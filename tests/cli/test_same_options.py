"""One option name for one thing in every command where it makes sense (issue 14):
``plan --staging``, ``run --report-html/--log-location/--workers/--threads``,
``--log-format`` on the single steps. Each run as a user runs it, against the embedded AWS."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from alltypes import create_source
from cliprocess import ddbmigrate
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.cli

SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"
DEST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-test"


def sides(url: str) -> list[str]:
    return [
        *("--source-endpoint-url", url, "--source-role-arn", SOURCE_ROLE),
        *("--source-region", LOCAL_REGION),
        *("--dest-endpoint-url", url, "--dest-role-arn", DEST_ROLE),
        *("--dest-region", LOCAL_REGION),
    ]


@pytest.fixture
def source_table(moto_server: MotoServer) -> str:
    name = f"same-{uuid.uuid4().hex[:8]}"
    create_source(dynamodb_client(moto_server.endpoint_url, SOURCE_ROLE), name, items=6)
    return name


def test_plan_takes_staging_and_names_it(
    moto_server: MotoServer, source_table: str, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    plan = ["plan", "--source-table", source_table, *sides(url)]
    on_s3 = ddbmigrate(*plan, "--staging", "s3://bucket-in-b/migrations/", home=tmp_path)
    assert on_s3.returncode == 0, on_s3.stderr
    assert on_s3.stdout.splitlines()[0] == "staging: s3://bucket-in-b/migrations"
    local = ddbmigrate(*plan, "--staging", str(tmp_path / "staging"), home=tmp_path)
    assert local.returncode == 0, local.stderr
    assert local.stdout.splitlines()[0] == f"staging: local directory {tmp_path / 'staging'}"
    assert not (tmp_path / "staging").exists()  # plan writes nothing
    bad = ddbmigrate(*plan, "--staging", "gs://bucket/x", home=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: staging URL 'gs://bucket/x' uses a scheme")


def test_run_takes_the_reporting_and_parallel_flags_over_the_file(
    moto_server: MotoServer, source_table: str, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    side = f"endpoint_url: {url}, region: {LOCAL_REGION}"
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"source: {{{side}, role_arn: '{SOURCE_ROLE}'}}\n"
        f"destination: {{{side}, role_arn: '{DEST_ROLE}'}}\n"
        f"staging: {tmp_path / 'staging'}\n"
        f"tables:\n  - name: {source_table}\n    to: {source_table}-copy\n"
        f"report_html: {tmp_path / 'from-the-file.html'}\n"
    )
    html, logs = tmp_path / "report.html", tmp_path / "logs"
    done = ddbmigrate(
        *("run", str(pipeline), "--progress", "off", "--report-html", str(html)),
        *("--log-location", str(logs), "--workers", "1", "--threads", "2"),
        home=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert not (tmp_path / "from-the-file.html").exists()  # the flag wins over the key
    assert list(logs.rglob("report.json")), sorted(map(str, logs.rglob("*")))
    client = dynamodb_client(url, SOURCE_ROLE)
    assert_same_items(client, source_table, dynamodb_client(url, DEST_ROLE), f"{source_table}-copy")


def test_the_single_steps_take_log_format_json(
    moto_server: MotoServer, source_table: str, tmp_path: Path
) -> None:
    url = moto_server.endpoint_url
    done = ddbmigrate(
        *("export", "--table", source_table, "--staging", str(tmp_path / "staging")),
        *sides(url)[:6],
        *("--log-format", "json", "--workers", "1"),
        home=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert lines, done.stderr
    assert (lines[-1]["table"], lines[-1]["step"]) == (source_table, "export"), lines[-1]
    # One worker of 16 threads scans 16 segments: each of the 6 items lands in its own part.
    assert lines[-1]["message"] == f"[{source_table}] export: 6 items in 6 parts", lines[-1]
