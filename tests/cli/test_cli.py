"""The installed ``ddbmigrate`` command, run as a subprocess the way the README says."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ddbmigrate import api
from ddbmigrate.config import Side
from ddbmigrate.pipeline import MigrateOptions
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.cli

BIN = Path(sys.executable).parent / "ddbmigrate"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DDBMIGRATE_"))}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
        COLUMNS="200",
    )
    env.update(extra)
    return env


def run(
    args: list[str], env: dict[str, str], timeout: float = 240, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = run(["--help"], clean_env(tmp_path))
    assert out.returncode == 0
    for command in ("migrate", "schema", "export", "import", "validate", "demo", "local"):
        assert re.search(rf"\b{command}\b", out.stdout), command
    version = run(["--version"], clean_env(tmp_path))
    assert version.returncode == 0
    assert version.stdout.startswith("ddbmigrate ")


def test_python_dash_m_works(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ddbmigrate", "--version"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0
    assert "ddbmigrate" in out.stdout


def test_bad_flag_value_is_a_usage_error_without_traceback(tmp_path: Path) -> None:
    out = run(
        ["migrate", "--source-table", "t", "--staging", "s3://b/p/", "--segments", "0"],
        clean_env(tmp_path),
    )
    assert out.returncode == 2
    assert "--segments" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "error: --workers 0 must be at least 1"),
        (["--workers", "4096"], "error: --workers 4096 is more processes than this machine's"),
        (["--threads", "0"], "error: --threads 0 must be between 1 and 64"),
        (["--compression-level", "30"], "error: --compression-level 30 is outside 1-9 for gzip"),
    ],
)
def test_worker_and_compression_counts_out_of_range_are_refused_before_any_call(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    # No credentials and no endpoint: reaching AWS would fail differently.
    out = run(
        ["export", "--table", "t", "--staging", str(tmp_path / "x"), *flags],
        clean_env(tmp_path, AWS_DEFAULT_REGION="us-east-1"),
    )
    assert out.returncode == 2, out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "x").exists()


def test_bad_staging_url_is_a_usage_error(tmp_path: Path) -> None:
    out = run(
        ["export", "--table", "t", "--staging", "gs://bucket/x", "--source-region", "us-east-1"],
        clean_env(tmp_path),
    )
    assert out.returncode == 2, out.stderr
    assert "error: staging URL 'gs://bucket/x' uses a scheme ddbmigrate does not know" in out.stderr
    assert "Traceback" not in out.stderr


def test_staging_without_a_scheme_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """``no-such-bucket/x/`` used to stage silently into ./no-such-bucket/x/ and exit 0."""
    out = run(
        [
            "export",
            "--table",
            "t",
            "--staging",
            "no-such-bucket/x/",
            "--source-region",
            "us-east-1",
        ],
        clean_env(tmp_path),
        cwd=tmp_path,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines() == [
        "error: staging URL 'no-such-bucket/x/' is neither s3://BUCKET/PREFIX/ nor an explicit "
        "local path",
        "hint: did you mean s3://no-such-bucket/x/ ? For a local directory write "
        "./no-such-bucket/x/ (or an absolute path, or file:///abs/path)",
    ]
    assert not (tmp_path / "no-such-bucket").exists()


def test_policies_from_role_arns_need_no_credentials_and_make_no_aws_call(tmp_path: Path) -> None:
    """The policies come before the roles: the accounts are in the ARNs, regions in flags."""
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    env = clean_env(
        tmp_path,
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_ENDPOINT_URL="http://127.0.0.1:1",  # any call that slipped through would fail
    )
    out = run(
        [
            *("policies", "--source-role-arn", "arn:aws:iam::111111111111:role/src"),
            *("--dest-role-arn", "arn:aws:iam::222222222222:role/dst"),
            *("--source-table", "customer", "--staging", "s3://bucket-in-b/migrations/"),
            *("--source-region", "us-east-1", "--dest-region", "eu-west-1", "--json"),
        ],
        env,
    )
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)
    resources = json.dumps(docs)
    assert "arn:aws:dynamodb:us-east-1:111111111111:table/customer" in resources
    assert "arn:aws:dynamodb:eu-west-1:222222222222:table/customer" in resources
    principals = [
        st["Principal"]
        for st in docs["staging-bucket-policy.json"]["Statement"]
        if "Principal" in st
    ]
    assert principals
    assert all(p == {"AWS": "arn:aws:iam::111111111111:role/src"} for p in principals)


def test_demo_validates_every_item(tmp_path: Path) -> None:
    out = run(["demo", "--items", "60", "--progress", "off"], clean_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "MATCH: 60 of 60 items identical (customer -> customer)" in out.stdout


def test_local_up_prints_a_migrate_command_that_works(
    local_up: dict[str, str], tmp_path: Path
) -> None:
    env = clean_env(tmp_path, **{k: v for k, v in local_up.items() if not k.startswith("_")})
    args = local_up["_command"].replace("\\\n", " ").split()
    assert args[0] == "ddbmigrate"
    out = run([*args[1:], "--progress", "off"], env)
    assert out.returncode == 0, out.stderr
    assert "MATCH: 40 of 40 items identical" in out.stdout
    assert "preflight ok: staging bucket reachable" in out.stderr
    # The copy, read by the test itself from both accounts (the command names no --dest-table).
    source, dest = (dynamodb_client(local_up["AWS_ENDPOINT_URL"], r) for r in (SRC_ROLE, DST_ROLE))
    assert_same_items(source, "customer", dest, "customer", count=40)


def test_wrong_bucket_owner_is_refused_by_the_embedded_s3(
    local_up: dict[str, str], tmp_path: Path
) -> None:
    """The embedded S3 answers a wrong ExpectedBucketOwner with AccessDenied, as AWS does."""
    env = clean_env(tmp_path, **{k: v for k, v in local_up.items() if not k.startswith("_")})
    out = run(
        [
            *("migrate", "--source-profile", "a", "--source-table", "customer"),
            *("--dest-profile", "b", "--dest-table", "owner-check"),
            *("--staging", "s3://bucket-in-b/owner-check/", "--bucket-owner", "333333333333"),
        ],
        env,
    )
    assert out.returncode == 1, out.stderr
    error, hint = out.stderr.splitlines()
    assert error.startswith("error: s3://bucket-in-b/owner-check/")
    assert "AccessDenied" in error
    assert "(bucket 'bucket-in-b' is not owned by account 333333333333," in error
    assert hint.startswith("hint: pass --bucket-owner with the account that owns 'bucket-in-b'")
    dest = dynamodb_client(local_up["AWS_ENDPOINT_URL"], DST_ROLE)
    assert "owner-check" not in dest.list_tables()["TableNames"]


def test_plan_in_local_mode_measures_the_table_that_describe_table_reports_as_empty(
    local_up: dict[str, str], tmp_path: Path
) -> None:
    """moto keeps TableSizeBytes and ItemCount at 0; the plan reads the table instead."""
    env = clean_env(tmp_path, **{k: v for k, v in local_up.items() if not k.startswith("_")})
    out = run(
        ["plan", "--source-profile", "a", "--source-table", "customer", "--dest-profile", "b"], env
    )
    assert out.returncode == 0, out.stderr
    line = next(li for li in out.stdout.splitlines() if li.startswith("source table"))
    size = int(re.search(r"~([\d,]+) bytes", line).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert "customer: ~40 items" in line
    assert size > 40 * 100  # every demo item holds well over 100 bytes
    assert "(estimated from a Scan of every item: DescribeTable reports 0)" in line


def test_plan_compares_the_import_methods_and_prices_the_boost(
    local_up: dict[str, str], tmp_path: Path
) -> None:
    env = clean_env(tmp_path, **{k: v for k, v in local_up.items() if not k.startswith("_")})
    out = run(
        [
            *("plan", "--source-profile", "a", "--source-table", "customer"),
            *("--dest-profile", "b", "--bulk-max-wru", "2048", "--boost", "100"),
        ],
        env,
    )
    assert out.returncode == 0, out.stderr
    rows = {li.split()[1]: li for li in out.stdout.splitlines() if li.startswith("import ")}
    assert sorted(rows) == ["batch", "bulk", "native"]
    assert " WCU/s, ~$" in rows["batch"]
    assert "at 2,048 WRU/s, ~$" in rows["bulk"]
    assert "assumed $0.625/M write request units" in rows["bulk"]
    assert "new table only" in rows["native"]
    assert "($0.15/GB of uncompressed data)" in rows["native"]
    boost = [li for li in out.stdout.splitlines() if li.startswith("boost ")]
    assert boost == [
        "boost          on-demand maximum raised to 100 WRU/s for the run (no charge for the "
        "maximum itself; writes cost as above)"
    ]


def test_a_relative_local_staging_is_named_as_a_local_directory_in_preflight_and_plan(
    local_up: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = clean_env(tmp_path, **{k: v for k, v in local_up.items() if not k.startswith("_")})
    out = run(
        [
            *("migrate", "--source-profile", "a", "--source-table", "customer"),
            *("--dest-profile", "b", "--dest-table", "to-local-dir"),
            *("--staging", "./stage/", "--progress", "off"),
        ],
        env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    stage = (tmp_path / "stage").resolve()
    assert f"preflight ok: staging: local directory {stage} writable" in out.stderr
    assert (stage / "ddbmigrate" / "runs").is_dir()
    for name, value in env.items():  # the API in this process, against the same accounts
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    lines = api.plan_lines(
        source=Side(profile="a"),
        dest=Side(profile="b"),
        options=MigrateOptions(source_table="customer", dest_table="plan-only"),
        staging=api.StagingOptions(url="./stage/"),
    )
    assert f"staging        local directory {stage}" in lines


def test_unknown_table_is_one_clear_line(local_up: dict[str, str], tmp_path: Path) -> None:
    env = clean_env(tmp_path, **{k: v for k, v in local_up.items() if not k.startswith("_")})
    out = run(
        [
            "migrate",
            "--source-role-arn",
            "arn:aws:iam::111111111111:role/ddbmigrate-source",
            "--dest-role-arn",
            "arn:aws:iam::222222222222:role/ddbmigrate-destination",
            "--source-table",
            "nope",
            "--staging",
            "s3://ddbmigrate-staging-222222222222/x/",
        ],
        env,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: source table 'nope' does not exist in the source account")
    assert "hint: check --source-table" in out.stderr
    assert "Traceback" not in out.stderr


SRC_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-source"
DST_ROLE = "arn:aws:iam::222222222222:role/ddbmigrate-destination"


def test_validate_against_an_empty_copy_exits_three(
    local_up: dict[str, str], tmp_path: Path
) -> None:
    env = clean_env(tmp_path, **{k: v for k, v in local_up.items() if not k.startswith("_")})
    sides = ["--source-role-arn", SRC_ROLE, "--dest-role-arn", DST_ROLE]
    made = run(["schema", *sides, "--source-table", "customer", "--dest-table", "empty-copy"], env)
    assert made.returncode == 0, made.stderr
    assert "created table 'empty-copy' like 'customer'" in made.stdout
    out = run(
        [
            "validate",
            *sides,
            "--source-table",
            "customer",
            "--dest-table",
            "empty-copy",
            "--progress",
            "off",
        ],
        env,
    )
    assert out.returncode == 3, out.stderr
    assert out.stdout.startswith("MISMATCH: source 40 items, destination 0; 40 missing")
    assert '  missing  name="customer-000000", city="Seattle"' in out.stdout
    same = run(
        [
            "validate",
            "--source-role-arn",
            SRC_ROLE,
            "--dest-role-arn",
            SRC_ROLE,
            "--source-table",
            "customer",
            "--json",
            "--progress",
            "off",
        ],
        env,
    )
    assert same.returncode == 0, same.stderr
    assert '"match":true' in same.stdout
