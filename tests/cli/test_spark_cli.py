"""``--engine spark`` refusals as a user meets them: one clear line, the right exit code, no
traceback, no AWS call and no JVM. (The engine at work: tests/integration/test_spark_engine.py
and tests/faults/test_spark_crash.py.)"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ddbmigrate import spark_job
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import BUCKET, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import MotoServer
from tables import make_customer_table

pytestmark = pytest.mark.cli

BIN = Path(sys.executable).parent / "ddbmigrate"
# No endpoint answers here: a command that made an AWS call would fail on it, not on Spark.
NOWHERE = "http://127.0.0.1:9"


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DDBMIGRATE_"))}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ACCESS_KEY_ID="x",
        AWS_SECRET_ACCESS_KEY="x",
        COLUMNS="200",
    )
    return env


def export_args(*extra: str) -> list[str]:
    return [
        "export",
        "--table",
        "customer",
        "--staging",
        "s3://bucket/prefix/",
        "--source-endpoint-url",
        NOWHERE,
        "--source-region",
        "us-east-1",
        *extra,
    ]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_without_pyspark_one_line_says_how_to_install_it(tmp_path: Path) -> None:
    # This interpreter has pyspark; hide it the way a missing package looks to Python.
    script = (
        "import sys; sys.modules['pyspark'] = None; "
        "from ddbmigrate.cli.app import main; sys.exit(main(sys.argv[1:]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, *export_args("--engine", "spark")],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: --engine spark needs pyspark, which is not installed: "
        "pip install 'ddbmigrate[spark]'"
    ]
    assert out.stdout == ""


def test_a_spark_master_that_cannot_be_reached_is_refused_at_once(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    master = f"spark://127.0.0.1:{port}"
    out = run(export_args("--engine", "spark", "--spark-master", master), clean_env(tmp_path))
    assert out.returncode == 1
    assert f"error: cannot reach Spark master {master}: 127.0.0.1:{port}: " in out.stderr
    assert "Traceback" not in out.stderr


def test_local_staging_with_a_cluster_master_is_refused(tmp_path: Path) -> None:
    with socket.socket() as master:  # the master answers; the staging is what is wrong
        master.bind(("127.0.0.1", 0))
        master.listen()
        port = master.getsockname()[1]
        staging = str(tmp_path / "staging")
        args = [*export_args("--engine", "spark", "--spark-master", f"spark://127.0.0.1:{port}")]
        args[args.index("s3://bucket/prefix/")] = staging
        out = run(args, clean_env(tmp_path))
    assert out.returncode == 2
    assert f"error: {staging} is on this machine's disk, which the executors" in out.stderr
    assert not (tmp_path / "staging").exists()


@pytest.mark.parametrize("command", [["sync"], ["cutover", "--source-stopped"]])
def test_a_live_command_on_spark_refuses_local_staging_for_a_cluster_master(
    tmp_path: Path, command: list[str]
) -> None:
    with socket.socket() as master:  # the replay's tasks write their checkpoints there
        master.bind(("127.0.0.1", 0))
        master.listen()
        port = master.getsockname()[1]
        staging = str(tmp_path / "staging")
        out = run(
            [
                *(command[0], "20260101T000000Z-1a2b3c4d", *command[1:], "--staging", staging),
                *("--engine", "spark", "--spark-master", f"spark://127.0.0.1:{port}"),
                *("--source-endpoint-url", NOWHERE, "--dest-endpoint-url", NOWHERE),
            ],
            clean_env(tmp_path),
        )
    assert out.returncode == 2, out.stderr
    assert f"error: {staging} is on this machine's disk, which the executors" in out.stderr
    assert not (tmp_path / "staging").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--spark-master", "local[2]"], "error: --spark-master needs --engine spark"),
        (["--engine", "ray"], "error: --engine 'ray' is not one of local, spark"),
        (["--engine", "spark", "--workers", "0"], "error: --workers 0 must be at least 1"),
    ],
)
def test_engine_flags_that_do_not_fit_are_usage_errors(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    out = run(export_args(*flags), clean_env(tmp_path))
    assert out.returncode == 2
    assert out.stderr.startswith(message)


# --- spark-submit, as an EMR step or a Glue job runs it ---


@pytest.fixture
def small_table(moto_server: MotoServer, aws_env: None) -> tuple[LocalAWS, str]:
    aws = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(aws)
    table = f"submitted-{uuid.uuid4().hex[:8]}"
    make_customer_table(aws, table, items=customer_items(30))
    return aws, table


def test_spark_submit_runs_a_pipeline_file_on_the_submitted_session(
    small_table: tuple[LocalAWS, str], tmp_path: Path
) -> None:
    aws, table = small_table
    pipeline = tmp_path / "pipeline.yaml"
    side = f"role_arn: {{}}\n  region: {aws.region}\n  endpoint_url: {aws.endpoint_url}\n"
    pipeline.write_text(
        "version: 1\n"
        f"source:\n  {side.format(SOURCE_ROLE)}"
        f"destination:\n  {side.format(DEST_ROLE)}"
        f"staging: s3://{BUCKET}/{uuid.uuid4().hex[:8]}/\n"
        f"tables: [{table}]\n"
        "workers: 2\n"
    )
    env = clean_env(tmp_path)
    env.update(
        aws.base_env,
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
    )
    local = ("spark.driver.host=127.0.0.1", "spark.ui.enabled=false")
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "spark-submit"),
            *("--master", "local[2]", "--conf", local[0], "--conf", local[1]),
            str(Path(spark_job.__file__)),
            *("--pipeline", str(pipeline), "--JOB_NAME", "ignored"),  # Glue adds its own
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "spark engine: master local[2], 2 tasks at once" in out.stdout + out.stderr
    assert f"match     {table} -> {table}" in out.stdout
