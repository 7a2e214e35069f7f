"""A damaged run.json or lock file: one line naming it, never a traceback; status lists the
rest. The commands run in-process on a local staging directory, with sockets disabled: each
refusal comes before any AWS call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from ddbmigrate.cli.app import main
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.planlock import lock_dir

GOOD_RUN: dict[str, Any] = {
    "version": 1,
    "run_id": "20260101T000000Z-good",
    "command": "export",
    "plan": {"table": "orders", "staging": "x"},
    "created": "2026-01-01T00:00:00.000Z",
    "steps": {"export": "running"},
    "finished": False,
}
DAMAGED = "20260101T000000Z-bad"
MIGRATE = [
    "migrate",
    "--source-table",
    "customer",
    "--source-region",
    "us-east-1",
    "--dest-region",
    "us-east-1",
    "--workers",
    "1",
    "--progress",
    "off",
]


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A staging directory with a good run and one whose run.json was cut short."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    root = tmp_path / "staging"
    runs = root / "ddbmigrate" / "runs"
    (runs / GOOD_RUN["run_id"]).mkdir(parents=True)
    (runs / str(GOOD_RUN["run_id"]) / "run.json").write_bytes(orjson.dumps(GOOD_RUN))
    # A lock.json of the per-run locks of earlier versions, damaged: no longer read at all.
    (runs / str(GOOD_RUN["run_id"]) / "lock.json").write_bytes(b"\x00\x00")
    (runs / DAMAGED).mkdir()
    (runs / DAMAGED / "run.json").write_bytes(b'{"run_id": "20260101T000000Z-bad", "comm')
    return root


def one_error(err: str, starts: str) -> None:
    """The command ends on one error line and its hint; a resume may say before it which
    run and settings it uses (``note:``, ``resuming``), nothing else."""
    lines = err.splitlines()
    assert lines[-2].startswith(f"error: {starts}"), err
    assert lines[-1].startswith("hint: "), err
    assert all(line.startswith(("note: ", "resuming ")) for line in lines[:-2]), err
    assert "Traceback" not in err


def test_status_lists_the_other_runs_and_marks_the_damaged_one(
    staging: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["status", "--staging", str(staging)])
    out, err = capsys.readouterr()
    assert code == ExitCode.OK, err
    lines = out.splitlines()
    assert lines[0] == (
        f"{DAMAGED}  DAMAGED: run ledger file {staging}/ddbmigrate/runs/{DAMAGED}/run.json "
        "is damaged (not JSON: unexpected end of data: line 1 column 41 (char 40)); a damaged "
        "run cannot be resumed: move its folder out of ddbmigrate/runs/ (keep it to look "
        "into), then run again"
    )
    assert lines[1].startswith(f"{GOOD_RUN['run_id']}  export orders  stopped  (started")
    assert "Traceback" not in err


def test_status_marks_a_damaged_lock_and_still_lists_the_run(
    staging: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = staging / lock_dir("export", GOOD_RUN["plan"]) / "000000000000.json"
    lock.parent.mkdir(parents=True)
    lock.write_bytes(b"{")
    assert main(["status", "--staging", str(staging), GOOD_RUN["run_id"]]) == ExitCode.OK
    out = capsys.readouterr().out
    assert out.startswith(
        f"{GOOD_RUN['run_id']}  export orders  unknown, held by nobody knows: run lock "
        f"file {lock} is damaged (not JSON"
    )


def test_migrate_on_a_staging_with_a_damaged_run_is_one_line(
    staging: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*MIGRATE, "--staging", str(staging)])
    one_error(
        capsys.readouterr().err,
        f"run ledger file {staging}/ddbmigrate/runs/{DAMAGED}/run.json is damaged (not JSON",
    )
    assert code == ExitCode.FAILURE


def test_resume_of_a_damaged_run_is_one_line(
    staging: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["resume", DAMAGED, "--staging", str(staging)])
    one_error(
        capsys.readouterr().err,
        f"run ledger file {staging}/ddbmigrate/runs/{DAMAGED}/run.json is damaged (not JSON",
    )
    assert code == ExitCode.FAILURE


def test_resume_and_migrate_with_a_damaged_lock_are_one_line(
    staging: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (staging / "ddbmigrate" / "runs" / DAMAGED / "run.json").unlink()
    plan = {"source_table": "customer", "dest_table": "customer"}
    lock = staging / lock_dir("migrate", plan) / "000000000002.json"
    lock.parent.mkdir(parents=True)
    lock.write_bytes(b"")
    code = main([*MIGRATE, "--staging", str(staging)])
    one_error(capsys.readouterr().err, f"run lock file {lock} is damaged (not JSON")
    assert code == ExitCode.FAILURE

    side = {"profile": None, "role_arn": None, "region": "us-east-1", "endpoint_url": None}
    stopped = {
        **GOOD_RUN,
        "run_id": "20260101T000000Z-migr",
        "command": "migrate",
        "plan": {
            **plan,
            "source": side,
            "dest": side,
            "staging": str(staging),
            "segments": None,
            "part_max_items": 100,
        },
    }
    folder = staging / "ddbmigrate" / "runs" / str(stopped["run_id"])
    folder.mkdir()
    (folder / "run.json").write_bytes(orjson.dumps(stopped))
    code = main(["resume", str(stopped["run_id"]), "--staging", str(staging), "--workers", "1"])
    one_error(capsys.readouterr().err, f"run lock file {lock} is damaged (not JSON")
    assert code == ExitCode.FAILURE
