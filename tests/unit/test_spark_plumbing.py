"""The Spark engine's parts that need no Spark: what travels to a task, what comes back,
how the driver applies it, the task sides of the ledger and the rejects file, and the
refusals made before any data moves. The engine on a real Spark is tested in
tests/integration/test_spark_engine.py and tests/faults/test_spark_crash.py."""

from __future__ import annotations

import pickle
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from ddbmigrate.checkpoint import Ledger, SegmentState
from ddbmigrate.clock import SystemClock
from ddbmigrate.config import Side
from ddbmigrate.engines import spark, spark_task
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.engines.local import Shared
from ddbmigrate.engines.portable import from_spark_task
from ddbmigrate.errors import ConfigError, FatalError
from ddbmigrate.model import PartInfo
from ddbmigrate.ports import Store
from ddbmigrate.runs import Reject, RejectLimitError, RejectLog
from ddbmigrate.stores import LocalStore
from ddbmigrate.testing import FakeClock, MemoryStore
from ddbmigrate.throttle import CapacityBudget


class Recording:
    """An observer that keeps its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def advanced(self, step: str, items: int) -> None:
        self.calls.append(("advanced", (step, items)))

    def message(self, text: str) -> None:
        self.calls.append(("message", (text,)))


@dataclass(slots=True)
class Job:
    """A unit function's job object, as the exporter and importer make them."""

    observer: Any
    rejects: Any
    budget: Any
    fail: bool = False

    def run(self, unit: int, stop: threading.Event) -> int:
        for _ in range(3):
            self.observer.advanced("import", unit)
        self.observer.message(f"unit {unit}")
        if unit == 7:
            self.rejects.record(Reject(f"file-{unit}", 1, "bad line"))
        if self.fail:
            raise FatalError(f"unit {unit} failed")
        return unit * 10 + int(self.budget.target)


def plan_for(job: Job, *, parts: int = 2) -> tuple[spark_task.TaskPlan, Shared]:
    shared = Shared(forward=(job.rejects,), notify=(job.observer,), budgets=(job.budget,))
    return spark_task.TaskPlan.build(job.run, shared, parts), shared


def rejects(store: Store, *, max_rejects: int = 5) -> RejectLog:
    return RejectLog(store, "ddbmigrate/runs/r1", max_rejects=max_rejects)


def test_a_unit_runs_with_task_sides_and_hands_back_what_the_driver_replays(
    tmp_path: Path,
) -> None:
    store = LocalStore(str(tmp_path))  # what travels to a task must pickle
    budget = CapacityBudget(100.0, clock=SystemClock())
    plan, _ = plan_for(Job(Recording(), rejects(store), budget))

    outcome = spark_task.run_unit(pickle.loads(pickle.dumps(plan)), 3, 7)

    assert outcome.index == 3
    assert outcome.error is None
    assert outcome.result == 7 * 10 + 50  # the task held half the budget: two at once
    # Three progress calls in a row became one; the message kept its place.
    assert outcome.notes == [
        (0, "advanced", ("import", 21), {}),
        (0, "message", ("unit 7",), {}),
    ]
    [(index, method, args, _)] = outcome.handback
    assert (index, method, args[0].file) == (0, "record", "file-7")


def test_a_unit_error_is_its_outcome_never_an_exception_for_spark() -> None:
    plan, _ = plan_for(Job(Recording(), None, CapacityBudget(10.0, clock=SystemClock()), True))
    outcome = spark_task.run_unit(plan, 0, 1)
    assert isinstance(outcome.error, FatalError)
    assert outcome.error.message == "unit 1 failed"
    assert outcome.notes[0] == (0, "advanced", ("import", 3), {})


def test_an_error_that_does_not_pickle_comes_back_with_its_traceback() -> None:
    class LocalError(Exception):  # a local class cannot be pickled
        pass

    error = from_spark_task(LocalError("odd"))
    assert isinstance(error, FatalError)
    assert "a Spark task failed: LocalError: odd" in error.message
    pickle.dumps(error)


def test_an_object_without_a_task_side_cannot_be_forwarded() -> None:
    with pytest.raises(FatalError, match="Recording has no task side"):
        spark_task.TaskPlan.build(lambda u, s: u, Shared(forward=(Recording(),)), 1)


class FakeJob:
    def __init__(self) -> None:
        self.cancelled = 0

    def cancel(self) -> None:
        self.cancelled += 1


def test_the_driver_applies_each_units_outcome_once_and_stops_at_the_first_error() -> None:
    observer, log = Recording(), rejects(MemoryStore(), max_rejects=0)
    collector = spark._Collector(Shared(forward=(log,), notify=(observer,)), total=3)
    job = FakeJob()
    ok = spark_task.Outcome(0, "a", None, [(0, "advanced", ("export", 5), {})], [])
    again = spark_task.Outcome(0, "b", None, [(0, "advanced", ("export", 5), {})], [])
    bad = spark_task.Outcome(1, None, FatalError("boom"), [], [])
    collector._apply([ok, again, bad], job)  # type: ignore[arg-type]
    assert observer.calls == [("advanced", ("export", 5))]
    assert collector.done[0].result == "a"
    assert isinstance(collector.first_error, FatalError)
    assert job.cancelled == 1


def test_a_reject_handed_back_past_the_limit_stops_the_job() -> None:
    log = rejects(MemoryStore(), max_rejects=0)
    collector = spark._Collector(Shared(forward=(log,)), total=1)
    job = FakeJob()
    reject = Reject("f", 3, "no")
    collector._apply([spark_task.Outcome(0, 1, None, [], [(0, "record", (reject,), {})])], job)  # type: ignore[arg-type]
    assert isinstance(collector.first_error, RejectLimitError)
    assert job.cancelled == 1
    assert log.rejects == [reject]


# --- task sides of the ledger and the rejects file ---


def test_the_ledgers_task_side_writes_the_same_unit_records() -> None:
    store = MemoryStore()
    ledger = Ledger(store, "r1", FakeClock())
    side = ledger.task_side()
    state = SegmentState(3, 8, None, [PartInfo("data/000003-00000.json.gz", 2, "md5", 10)], True)
    side.save_segment(state)
    side.save_imported("data/x.json.gz", 12)
    assert ledger.segments() == {3: state}
    assert ledger.imported_files() == {"data/x.json.gz": 12}
    assert not hasattr(side, "step")  # step records are the driver's alone


def test_a_tasks_rejects_are_kept_at_once_enforced_and_handed_back() -> None:
    store = MemoryStore()
    log = rejects(store, max_rejects=2)
    log.record(Reject("earlier", 1, "old"))
    side = log.task_side()
    side.record(Reject("part-1", 4, "bad"))
    side.record(Reject("part-1", 4, "bad"))  # read again: one reject
    with pytest.raises(RejectLimitError, match="part-1 line 9: worse"):
        side.record(Reject("part-1", 9, "worse"))
    kept = [k for k in store.list("ddbmigrate/runs/r1/rejects/") if "/tasks/" in k]
    assert len(kept) == 1
    lines = [orjson.loads(x) for x in store.get(kept[0]).splitlines()]
    assert [x["line"] for x in lines] == [4, 9]
    assert [call[1][0].line for call in side.handback()] == [4, 9]


def test_a_resumed_run_finds_the_rejects_a_killed_driver_never_merged() -> None:
    store = MemoryStore()
    side = rejects(store).task_side()
    side.record(Reject("part-2", 1, "bad"))
    again = rejects(store)
    assert [r.file for r in again.rejects] == ["part-2"]
    again.record(Reject("part-2", 1, "bad"))  # the same reject merged later: still one
    assert again.count == 1


# --- the clock executors use for deadlines ---


def test_a_clock_on_another_host_follows_the_drivers_monotonic_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = time.monotonic
    data = pickle.dumps(SystemClock())
    here = pickle.loads(data)
    assert abs(here.monotonic() - real()) < 0.5
    monkeypatch.setattr("ddbmigrate.clock._boot_id", lambda: "another-host")
    monkeypatch.setattr("time.monotonic", lambda: real() - 1000.0)  # booted at another time
    there = pickle.loads(data)
    assert abs(there.monotonic() - real()) < 0.5


# --- choosing and refusing ---


def test_engines_are_chosen_by_name() -> None:
    assert EngineChoice().name == "local"
    assert EngineChoice(name="spark", spark_master="local[2]").spark
    with pytest.raises(ConfigError, match="--engine 'ray' is not one of local, spark"):
        EngineChoice(name="ray")
    with pytest.raises(ConfigError, match="--spark-master needs --engine spark"):
        EngineChoice(spark_master="local[2]")
    with pytest.raises(ConfigError, match="--workers 0 must be at least 1"):
        EngineChoice(name="spark", spark_tasks=0)


def test_without_pyspark_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark raises ImportError
    with pytest.raises(ConfigError) as caught:
        spark.open_session("local[2]")
    assert caught.value.message == (
        "--engine spark needs pyspark, which is not installed: pip install 'ddbmigrate[spark]'"
    )
    assert caught.value.hint is None  # one line


@pytest.mark.parametrize(
    ("master", "local"),
    [
        ("local", True),
        ("local[2]", True),
        ("local[*]", True),
        ("local[4,3]", True),
        ("local-cluster[2,1,1024]", True),
        ("yarn", False),
        ("spark://10.0.0.1:7077", False),
        ("k8s://https://example:443", False),
        ("localhost", False),
    ],
)
def test_which_masters_run_executors_on_this_machine(master: str, local: bool) -> None:
    assert spark.is_local_master(master) is local


class FakeContext:
    def __init__(self, master: str, conf: dict[str, str] | None = None) -> None:
        self.master = master
        self.defaultParallelism = 6
        self._conf = conf or {}

    def getConf(self) -> FakeContext:  # noqa: N802 - pyspark's name
        return self

    def get(self, key: str, default: str) -> str:
        return self._conf.get(key, default)


class FakeSession:
    def __init__(self, context: FakeContext) -> None:
        self.sparkContext = context


def test_a_cluster_master_refuses_staging_on_this_machines_disk() -> None:
    engine = spark.SparkEngine(FakeSession(FakeContext("yarn")))
    engine.check_staging(["s3://bucket/prefix/"])
    with pytest.raises(ConfigError, match="executors of Spark master yarn cannot see"):
        engine.check_staging(["s3://bucket/prefix/", "/data/staging"])
    spark.SparkEngine(FakeSession(FakeContext("local[2]"))).check_staging(["/data/staging"])


def test_speculative_tasks_are_refused() -> None:
    on = FakeContext("yarn", {"spark.speculation": "true"})
    with pytest.raises(ConfigError, match=r"spark\.speculation is on"):
        spark.SparkEngine(FakeSession(on)).check_settings()
    spark.SparkEngine(FakeSession(FakeContext("yarn"))).check_settings()


def test_tasks_at_once_come_from_the_cluster_or_workers_whichever_is_larger() -> None:
    assert spark.SparkEngine(FakeSession(FakeContext("yarn"))).workers == 6
    assert spark.SparkEngine(FakeSession(FakeContext("yarn")), tasks=40).workers == 40
    # --workers cannot shrink the shares below what the cluster runs at once.
    assert spark.SparkEngine(FakeSession(FakeContext("yarn")), tasks=2).workers == 6


@pytest.mark.parametrize(
    ("master", "conf", "slots"),
    [
        ("local[2]", {}, 2),
        ("local", {}, 1),
        ("local[3,4]", {}, 3),
        ("local-cluster[2,3,1024]", {}, 6),
        ("yarn", {}, 6),  # the default parallelism: the cores registered now
        ("yarn", {"spark.executor.instances": "5", "spark.executor.cores": "4"}, 20),
        (
            "yarn",
            {
                "spark.executor.instances": "5",
                "spark.executor.cores": "4",
                "spark.task.cpus": "2",
            },
            10,
        ),
        (
            "yarn",
            {
                "spark.dynamicAllocation.enabled": "true",
                "spark.dynamicAllocation.maxExecutors": "10",
                "spark.executor.cores": "4",
            },
            40,
        ),
        ("yarn", {"spark.dynamicAllocation.enabled": "true", "spark.executor.cores": "4"}, None),
        (
            "yarn",
            {
                "spark.dynamicAllocation.enabled": "true",
                "spark.dynamicAllocation.maxExecutors": "infinity",
                "spark.executor.cores": "4",
            },
            None,
        ),
    ],
)
def test_the_most_tasks_at_once_follow_the_master_and_the_settings(
    master: str, conf: dict[str, str], slots: int | None
) -> None:
    assert spark.task_slots(master, FakeContext(master, conf), 6) == slots


def test_each_task_of_a_step_holds_a_share_no_larger_than_the_tasks_at_once_allow() -> None:
    engine = spark.SparkEngine(FakeSession(FakeContext("local[4]")))
    assert [engine.parts(n) for n in (1, 3, 4, 50)] == [1, 3, 4, 4]
    unbounded = FakeContext(
        "yarn", {"spark.dynamicAllocation.enabled": "true", "spark.executor.cores": "4"}
    )
    engine = spark.SparkEngine(FakeSession(unbounded))
    assert [engine.parts(n) for n in (1, 50)] == [1, 50]  # every unit may run at once
    assert "spark.dynamicAllocation.maxExecutors" in engine.describe()


def test_the_external_id_travels_with_the_side_but_is_never_shown() -> None:
    side = Side(role_arn="arn:aws:iam::222222222222:role/x", external_id="s3cr3t-ish")
    assert pickle.loads(pickle.dumps(side)).external_id == "s3cr3t-ish"  # executors need it
    assert "s3cr3t-ish" not in side.describe()
    assert "external_id=(set)" in side.describe()
    assert "s3cr3t-ish" not in repr(side)
