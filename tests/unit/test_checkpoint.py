"""The run ledger: plans, versions, locks, segment and file records."""

from __future__ import annotations

import re

import orjson
import pytest

from ddbmigrate.checkpoint import (
    Ledger,
    LedgerConflictError,
    LedgerDamagedError,
    SegmentState,
    find_unfinished,
    list_runs,
    scan_runs,
)
from ddbmigrate.cli.app import main
from ddbmigrate.cli.exit_codes import ExitCode
from ddbmigrate.model import PartInfo
from ddbmigrate.testing import FakeClock, MemoryStore

PLAN = {"source_table": "customer", "dest_table": "customer", "staging": "s3://b/p"}


def started(store: MemoryStore, run_id: str = "r1") -> Ledger:
    ledger = Ledger(store, run_id, FakeClock())
    ledger.prepare(command="migrate", plan=PLAN)
    ledger.start()
    return ledger


def test_nothing_is_written_until_the_run_starts() -> None:
    store = MemoryStore()
    ledger = Ledger(store, "r1", FakeClock())
    ledger.prepare(command="migrate", plan=PLAN)
    assert list(store.list("")) == []
    ledger.step("preflight", "done")
    assert store.exists("ddbmigrate/runs/r1/run.json")


def test_an_unfinished_run_of_the_same_plan_is_found_and_a_finished_one_is_not() -> None:
    store = MemoryStore()
    ledger = started(store)
    assert find_unfinished(store, command="migrate", plan=PLAN) == "r1"
    assert find_unfinished(store, command="migrate", plan={**PLAN, "dest_table": "x"}) is None
    assert find_unfinished(store, command="export", plan=PLAN) is None
    ledger.finish()
    assert find_unfinished(store, command="migrate", plan=PLAN) is None
    assert [r["run_id"] for r in list_runs(store)] == ["r1"]


def test_a_changed_plan_is_refused_naming_what_changed() -> None:
    store = MemoryStore()
    started(store)
    again = Ledger(store, "r1", FakeClock())
    again.load()
    with pytest.raises(LedgerConflictError, match="dest_table, staging differ"):
        again.check_plan({**PLAN, "dest_table": "other", "staging": "s3://b/q"})


def test_a_ledger_from_a_newer_version_is_refused() -> None:
    store = MemoryStore()
    started(store)
    body = orjson.loads(store.get("ddbmigrate/runs/r1/run.json"))
    store.put("ddbmigrate/runs/r1/run.json", orjson.dumps({**body, "version": 99}))
    with pytest.raises(LedgerConflictError, match="written by a newer ddbmigrate"):
        Ledger(store, "r1", FakeClock()).load()
    assert orjson.loads(store.get("ddbmigrate/runs/r1/run.json"))["version"] == 99


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"run_id": "r2", "comm', "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"run_id": "r2", "command": "migrate"}', "not a run record: 'plan' is missing"),
    ],
)
def test_a_damaged_run_file_is_one_line_naming_its_key(content: bytes, reason: str) -> None:
    store = MemoryStore()
    started(store, "r1")
    started(store, "r3")
    store.put("ddbmigrate/runs/r2/run.json", content)
    expected = f"run ledger file memory://store/ddbmigrate/runs/r2/run.json is damaged ({reason}"
    with pytest.raises(LedgerDamagedError) as damaged:
        list_runs(store)
    assert str(damaged.value).startswith(expected)
    assert "\n" not in str(damaged.value)
    with pytest.raises(LedgerDamagedError, match=re.escape("runs/r2/run.json is damaged")):
        find_unfinished(store, command="migrate", plan=PLAN)
    with pytest.raises(LedgerDamagedError, match=re.escape("runs/r2/run.json is damaged")):
        Ledger(store, "r2", FakeClock()).load()
    runs, broken = scan_runs(store)
    assert [r["run_id"] for r in runs] == ["r1", "r3"]
    assert list(broken) == ["r2"]


def test_a_damaged_segment_record_names_its_key() -> None:
    store = MemoryStore()
    ledger = started(store)
    store.put("ddbmigrate/runs/r1/export/000002.json", b'{"segment": 2}')
    with pytest.raises(
        LedgerDamagedError, match=re.escape("runs/r1/export/000002.json is damaged")
    ):
        ledger.segments()


def test_segment_and_file_records_round_trip() -> None:
    store = MemoryStore()
    ledger = started(store)
    state = SegmentState(3, 8, last_key={"k": {"S": "x"}})
    state.parts.append(PartInfo(key="data/000003-00000.json.gz", item_count=7, md5_b64="m", size=9))
    ledger.save_segment(state)
    ledger.save_imported("AWSDynamoDB/x/data/000003-00000.json.gz", 7)
    loaded = ledger.segments()[3]
    assert loaded.last_key == {"k": {"S": "x"}}
    assert loaded.items == 7
    assert not loaded.done
    assert ledger.imported_files() == {"AWSDynamoDB/x/data/000003-00000.json.gz": 7}


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--read-percent", "2", "--read-percent 2.0 is outside 0.1-1.5"),
        ("--write-percent", "0.01", "--write-percent 0.01 is outside 0.1-1.5"),
    ],
)
def test_percent_outside_the_range_is_a_usage_error(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "migrate",
            "--source-table",
            "t",
            "--staging",
            "s3://b/p/",
            flag,
            value,
            "--source-region",
            "us-east-1",
            "--dest-region",
            "us-east-1",
        ]
    )
    assert code == ExitCode.USAGE
    assert f"error: {message}" in capsys.readouterr().err
