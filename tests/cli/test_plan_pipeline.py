"""``plan --pipeline`` plans each table as ``run`` would migrate it: the file's throughput,
workers and threads (``--workers``/``--threads`` over them, as ``run`` takes them), and a
flag the file decides is refused rather than ignored."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from alltypes import create_source
from cliprocess import ddbmigrate
from ddbmigrate import api
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.multi import TableJob
from ddbmigrate.pipelinefile import load_pipeline
from itemcompare import dynamodb_client

pytestmark = pytest.mark.cli

SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-test"
DEST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-test"


def pipeline(tmp_path: Path, url: str, table: str) -> Path:
    def side(role: str) -> str:
        return f"{{endpoint_url: {url}, region: {LOCAL_REGION}, role_arn: '{role}'}}"

    path = tmp_path / "pipeline.yaml"
    path.write_text(
        f"source: {side(SOURCE_ROLE)}\ndestination: {side(DEST_ROLE)}\n"
        f"staging: {tmp_path / 'staging'}\ntables: [{table}]\nworkers: 2\nthreads: 3\n"
        "throughput: {read_percent: 0.1, write_percent: 0.2}\n"
    )
    return path


def test_a_plan_of_a_pipeline_file_uses_its_throughput_workers_and_threads(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    table = f"plan-pipe-{uuid.uuid4().hex[:6]}"
    create_source(dynamodb_client(moto_server.endpoint_url, SOURCE_ROLE), table, items=5)
    path = pipeline(tmp_path, moto_server.endpoint_url, table)

    planned = ddbmigrate("plan", "--pipeline", str(path), home=tmp_path)
    flagged = ddbmigrate("plan", "--pipeline", str(path), "--threads", "5", home=tmp_path)

    assert planned.returncode == 0, planned.stderr
    lines = planned.stdout.splitlines()
    assert "scan segments  6" in lines  # 2 workers x 3 threads, from the file
    assert any(li.startswith("source reads") and "10% of the table's" in li for li in lines)
    assert any(li.startswith("dest writes") and "20% of the table's" in li for li in lines)
    assert flagged.returncode == 0, flagged.stderr
    assert "scan segments  10" in flagged.stdout.splitlines()  # --threads over the file


def test_flags_the_pipeline_file_decides_are_refused_beside_it(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    path = pipeline(tmp_path, moto_server.endpoint_url, "unused")
    out = ddbmigrate(
        *("plan", "--pipeline", str(path), "--source-profile", "x"),
        *("--segments", "4", "--read-percent", "0.3"),
        home=tmp_path,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines()[0] == (
        "error: --read-percent, --segments, --source-profile cannot be given with --pipeline: "
        "the file decides them"
    )


def test_a_run_uses_the_files_threads(tmp_path: Path) -> None:
    """The pipeline file's ``threads`` reaches each table's migration."""
    path = pipeline(tmp_path, "http://127.0.0.1:1", "t")
    spec = load_pipeline(path)
    options = api.table_options(spec, TableJob(spec.tables[0], "t", "t"))
    assert (options.workers, options.threads) == (2, 3)
