"""The Spark engine (``--engine spark``): the same unit functions, as Spark tasks.

pyspark is an optional extra (``pip install 'ddbmigrate[spark]'``) and is imported inside
functions only, so this module loads without it; the engine is chosen by name, never by what
happens to be installed. Only the RDD API that Spark 3.5 and 4.x share is used (EMR and Glue
ship 3.5).

How the :class:`~ddbmigrate.engines.local.Engine` contract maps onto Spark (the task side is in
``engines.spark_task``):

- **One task per unit.** ``parallelize(units, len(units))`` and ``foreachPartition``: Spark
  spreads the tasks over the executors' cores. Each task unpickles the job (a bound method
  of a plain job object, pickled here once per step) and runs ``fn(unit, stop)``.
- **Results and errors travel in an accumulator**, one outcome per task, which the driver
  sees as each task finishes (not only at the end of the job): progress moves per task, the
  rejects limit is enforced per task, and the first error cancels the other tasks. A unit's
  error is its outcome, never an exception Spark sees: Spark would retry a deterministic
  failure. Spark retries only what it loses (an executor that died); the accumulator applies
  each task's outcome once, and the driver keeps the first outcome of each unit besides.
- **Forwarded objects** (``Shared.forward``: the run ledger, the rejects file) are replaced
  on executors by their *task side* (``obj.task_side()``), which writes what must be
  durable straight to the staging store (the ledger's per-unit records, a task's rejects)
  and may hand calls back (``handback()``) for the driver to make on the real object when
  the task's outcome arrives. The driver alone writes manifests and step records.
- **Observers** (``Shared.notify``) are recorded in the task and replayed on the driver.
- **Budgets** (``Shared.budgets``): each task holds ``1/parts`` of each, ``parts`` being
  the tasks that run at once (``--workers``, else ``spark.default.parallelism``), so the
  total stays within the percent asked.

AWS objects pickle as their side's configuration (``SideSession.__reduce__``): executors
open their own sessions from their own base credentials (instance profile, Glue role) and
assume the side's role there. No key, token or password is in a task.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from ddbmigrate.engines.choice import PYSPARK_MISSING
from ddbmigrate.engines.local import INTERRUPT, Cancelled, Shared
from ddbmigrate.engines.spark_task import Outcome, Outcomes, TaskPlan, TaskRunner
from ddbmigrate.errors import (
    ConfigError,
    EngineError,
    TransientError,
)

U = TypeVar("U")
R = TypeVar("R")

POLL_SECONDS = 0.2
PROBE_TIMEOUT_SECONDS = 300.0
"""How long the first job may wait for executors: a cluster with dynamic allocation needs
a minute or two to start them."""
CONNECT_TIMEOUT_SECONDS = 5.0
SUBMITTED = "PYSPARK_GATEWAY_PORT"
"""Set by spark-submit for the Python driver it starts (the JVM is already running)."""
NOTHING_SHARED = Shared()
_LOCAL_MASTER = re.compile(r"^local(-cluster)?(\[.*\])?$")
_LOCAL_SLOTS = re.compile(r"^local(-cluster)?(?:\[(.*)\])?$")
_INFINITY = 2**31 - 1  # Spark's "no maximum" for spark.dynamicAllocation.maxExecutors


def is_local_master(master: str) -> bool:
    """``local``, ``local[N]``, ``local[*]``, ``local[N,F]``, ``local-cluster[...]``: executors
    on this machine, which see its disks."""
    return bool(_LOCAL_MASTER.match(master.strip()))


# --- the session -----------------------------------------------------------------------------


def task_slots(master: str, conf: Any, default_parallelism: int) -> int | None:
    """The most tasks a Spark application can run at once: a local master's threads, a
    dynamic allocation's maximum executors x their task slots, a static allocation's
    executors x slots, else the default parallelism (the cores registered now). None when
    dynamic allocation has no maximum: executors may keep coming."""
    local = _LOCAL_SLOTS.match(master.strip())
    if local:
        return _local_slots(local.group(1), local.group(2))
    cores = _setting(conf, "spark.executor.cores")
    per_executor = None if cores is None else cores // (_setting(conf, "spark.task.cpus") or 1)
    if str(conf.get("spark.dynamicAllocation.enabled", "false")).lower() == "true":
        most = _setting(conf, "spark.dynamicAllocation.maxExecutors")
        if most is None or most >= _INFINITY or per_executor is None:
            return None
        return max(1, most * per_executor)
    instances = _setting(conf, "spark.executor.instances")
    if instances is not None and per_executor is not None:
        return max(1, instances * per_executor)
    return max(1, int(default_parallelism))


def _setting(conf: Any, key: str) -> int | None:
    """A whole-number setting; None when unset or not a number ("infinity")."""
    value = conf.get(key, None)
    try:
        return None if value is None else int(str(value).strip())
    except ValueError:
        return None


def _local_slots(kind: str | None, inside: str | None) -> int:
    numbers = [n.strip() for n in (inside or "").split(",")]
    if kind:  # local-cluster[workers, cores per worker, memory]
        return max(1, int(numbers[0]) * int(numbers[1]))
    if not inside:
        return 1
    if numbers[0] == "*":
        return os.cpu_count() or 1
    return max(1, int(numbers[0]))


def _pyspark() -> Any:
    try:
        import pyspark  # noqa: PLC0415 - the optional extra, loaded only for --engine spark
    except ImportError as exc:
        raise ConfigError(PYSPARK_MISSING) from exc
    return pyspark


def preflight(master: str | None, locations: Iterable[str]) -> None:
    """What can be refused before any AWS call and before a JVM starts: a standalone master
    that does not accept connections, and staging on this machine's disk for a master whose
    executors run elsewhere."""
    if master is None:
        return
    _check_reachable(master)
    check_locations(master, locations)


def check_locations(master: str, locations: Iterable[str]) -> None:
    """Executors of a cluster cannot see this machine's disk: refuse local staging."""
    if is_local_master(master):
        return
    for url in locations:
        if not url.startswith("s3://"):
            raise ConfigError(
                f"{url} is on this machine's disk, which the executors of Spark master "
                f"{master} cannot see",
                hint="stage in S3 (--staging s3://bucket/prefix/), or use a local[N] master",
            )


def open_session(master: str | None) -> tuple[Any, bool]:
    """The SparkSession to run on, and whether this call started it.

    A session already running in this process (a notebook, a job script that made one) is
    used as it is. Otherwise one is started: under spark-submit (an EMR step, EMR
    Serverless, Glue) with the submitted application's settings, else on ``master``
    (``local[*]`` when none is given)."""
    _pyspark()
    from pyspark import SparkContext  # noqa: PLC0415
    from pyspark.sql import SparkSession  # noqa: PLC0415

    # _active_spark_context is how pyspark itself finds the process's context (3.5 and 4.x);
    # getActiveSession() alone is per thread and misses a session made on another thread.
    if SparkContext._active_spark_context is not None:
        session = SparkSession.builder.getOrCreate()
        running = str(_context(session).master)
        if master is not None and master != running:
            raise ConfigError(
                f"--spark-master {master} was given, but this process already runs a Spark "
                f"session on {running}",
                hint="leave out --spark-master to use the running session",
            )
        return session, False
    builder = SparkSession.builder.appName("ddbmigrate")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if master is None and SUBMITTED in os.environ:
        # Started by spark-submit (an EMR step, EMR Serverless, Glue): its master and
        # settings are the application's, and a master set here would override them.
        chosen = "the submitted application's settings"
    else:
        master = master or "local[*]"
        _check_reachable(master)
        builder = builder.master(master)
        chosen = f"master {master}"
        if is_local_master(master):
            builder = _local_setup(builder)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise EngineError(
            f"cannot start Spark ({chosen}): {_first_line(exc)}",
            hint="check --spark-master (local[N], spark://HOST:PORT, yarn, k8s://...)",
        ) from exc
    _context(session).setLogLevel("ERROR")
    # Stopped cleanly at exit (a cluster then records the application as finished); a
    # killed process leaves the JVM without its parent, and the JVM exits by itself.
    atexit.register(_stop_quietly, session)
    return session, True


def _stop_quietly(session: Any) -> None:
    with contextlib.suppress(Exception):
        session.stop()


def _local_setup(builder: Any) -> Any:
    """Executors on this machine: this interpreter (it has ddbmigrate), loopback only, no
    web UI listening on every interface."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (
        builder.config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
    )


def _context(session: Any) -> Any:
    try:
        return session.sparkContext
    except Exception as exc:  # Spark Connect sessions have no SparkContext
        raise EngineError(
            f"this Spark session has no SparkContext ({_first_line(exc)})",
            hint="the spark engine needs a classic session (spark-submit, EMR, Glue), not "
            "Spark Connect",
        ) from exc


def _check_reachable(master: str) -> None:
    """A standalone master (``spark://h1:p1,h2:p2``) must accept a connection: Spark itself
    would retry for a minute before giving up."""
    if not master.startswith("spark://"):
        return
    addresses = master.removeprefix("spark://").split(",")
    problems = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS):
                return
        except (OSError, ValueError) as exc:
            problems.append(f"{address}: {exc}")
    raise EngineError(
        f"cannot reach Spark master {master}: {'; '.join(problems)}",
        hint="check --spark-master and that this machine can reach the master's port",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# --- the engine --------------------------------------------------------------------------------


class SparkEngine:
    """Units as Spark tasks on ``session`` (see the module docstring)."""

    runs_replay = True
    """A live replay's shards are Spark tasks too (``engines.base.replay_engine``)."""

    def __init__(self, session: Any, *, tasks: int | None = None) -> None:
        self.session = session
        self.context = _context(session)
        self._tasks = tasks
        self._groups = itertools.count(1)
        self._token = uuid.uuid4().hex[:8]

    @property
    def master(self) -> str:
        return str(self.context.master)

    @property
    def workers(self) -> int:
        """Tasks that each hold a share of every budget: the most that can run at once (or
        ``--workers``, when larger); the default parallelism when the cluster has no
        maximum (each step then divides among all its units, see :meth:`parts`)."""
        bound = self.slots()
        base = bound if bound is not None else int(self.context.defaultParallelism)
        return max(1, self._tasks or 0, base)

    def parts(self, units: int) -> int:
        """How many shares a step of ``units`` divides each budget into: never fewer than
        the tasks that can run at once, so the total stays within the percent asked."""
        bound = self.slots()
        if bound is None:
            return max(1, units)  # any number of executors may come: every unit at once
        return max(1, min(units, max(self._tasks or 0, bound)))

    def slots(self) -> int | None:
        """The most tasks that can run at once, from the master and the settings; None
        when dynamic allocation has no maximum."""
        return task_slots(self.master, self.context.getConf(), self.context.defaultParallelism)

    @property
    def local(self) -> bool:
        return is_local_master(self.master)

    def describe(self) -> str:
        if self.slots() is None:
            return (
                f"Spark on {self.master}, dynamic allocation without a maximum: each task "
                "holds 1/(units of the step) of every budget (set "
                "spark.dynamicAllocation.maxExecutors for larger shares)"
            )
        tasks = self.workers
        return f"Spark on {self.master}, {tasks} tasks at once, each 1/{tasks} of every budget"

    def check_staging(self, urls: Iterable[str]) -> None:
        """Executors of a cluster cannot see this machine's disk: refuse local staging."""
        check_locations(self.master, urls)

    def check_settings(self) -> None:
        """Speculative copies of a task would write the same part files at the same time."""
        speculation = str(self.context.getConf().get("spark.speculation", "false"))
        if speculation.strip().lower() == "true":
            raise ConfigError(
                "spark.speculation is on: two copies of one export segment would write the "
                "same part files at once",
                hint="set spark.speculation=false (spark-submit --conf, or spark-defaults.conf)",
            )

    def run(
        self,
        fn: Callable[[U, threading.Event], R],
        units: Sequence[U],
        *,
        shared: Shared = NOTHING_SHARED,
    ) -> list[R]:
        return self._run(fn, units, shared, timeout=None)

    def probe(
        self,
        fn: Callable[[U, threading.Event], R],
        units: Sequence[U],
        *,
        timeout: float = PROBE_TIMEOUT_SECONDS,
    ) -> list[R]:
        """Run small units that prove the executors can work; refuse when none ran them
        within ``timeout`` seconds (no executors, or a master that does not answer)."""
        return self._run(fn, units, NOTHING_SHARED, timeout=timeout)

    def close(self) -> None:
        """Nothing to release per command: other tables of the same pipeline may still use
        the session, and one that ddbmigrate started stops when the process exits."""

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(
        self,
        fn: Callable[[U, threading.Event], R],
        units: Sequence[U],
        shared: Shared,
        *,
        timeout: float | None,
    ) -> list[R]:
        if not units:
            return []
        parts = self.parts(len(units))
        plan = TaskPlan.build(fn, shared, parts)
        outcomes = self.context.accumulator([], Outcomes())
        group = f"ddbmigrate-{self._token}-{next(self._groups)}"
        job = _Job(self.context, group, _describe(fn, len(units)))
        collector = _Collector(shared, len(units))
        job.start(plan, list(enumerate(units)), outcomes)
        try:
            collector.follow(job, outcomes, timeout=timeout)
        except BaseException:
            job.cancel()
            raise
        finally:
            job.join()
            outcomes.value = []  # the registry keeps the accumulator; drop what it holds
        return collector.results()


def _describe(fn: Callable[..., Any], count: int) -> str:
    # Shown in the Spark UI: the unit function's name only (a side's settings never).
    name = getattr(fn, "__qualname__", type(fn).__name__)
    return f"ddbmigrate {name} x {count}"


class _Job:
    """One Spark job, run on a thread of its own so the driver can follow its outcomes."""

    def __init__(self, context: Any, group: str, description: str) -> None:
        self.context = context
        self.group = group
        self.description = description
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self, plan: TaskPlan, indexed: list[tuple[int, Any]], outcomes: Any) -> None:
        from pyspark import InheritableThread  # noqa: PLC0415

        def submit() -> None:
            try:
                self.context.setJobGroup(self.group, self.description, interruptOnCancel=True)
                rdd = self.context.parallelize(indexed, len(indexed))
                rdd.foreachPartition(TaskRunner(plan, outcomes))
            except BaseException as exc:  # noqa: BLE001 - reported by the driver's thread
                self.error = exc

        self._thread = InheritableThread(target=submit, name="spark-job", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, seconds: float) -> None:
        if self._thread is not None:
            self._thread.join(seconds)

    def cancel(self) -> None:
        with contextlib.suppress(Exception):  # a context already stopped has nothing to cancel
            self.context.cancelJobGroup(self.group)

    def join(self) -> None:
        self.wait(60.0)


class _Collector:
    """The driver's side of a job: applies each task's outcome as it arrives."""

    def __init__(self, shared: Shared, total: int) -> None:
        self.shared = shared
        self.total = total
        self.seen = 0
        self.done: dict[int, Any] = {}
        self.first_error: BaseException | None = None

    def follow(self, job: _Job, outcomes: Any, *, timeout: float | None) -> None:
        started = _monotonic()
        while job.alive():
            INTERRUPT.check()  # the caller cancels the job group
            self._apply(outcomes.value, job)
            if timeout is not None and not self.done and _monotonic() - started > timeout:
                raise EngineError(
                    f"no Spark executor ran a task within {timeout:.0f} s",
                    hint="check that the cluster has executors and capacity for them, and "
                    "that this machine reaches the Spark master",
                )
            job.wait(POLL_SECONDS)
        self._apply(outcomes.value, job)
        if self.first_error is not None:
            raise self.first_error
        if job.error is not None:
            raise _job_failed(job.error)
        missing = self.total - len(self.done)
        if missing:
            raise TransientError(
                f"the Spark job ended without the outcome of {missing} of {self.total} tasks",
                hint="a re-run resumes where it stopped",
            )

    def _apply(self, arrived: list[Outcome], job: _Job) -> None:
        while self.seen < len(arrived):
            outcome = arrived[self.seen]
            self.seen += 1
            if outcome.index in self.done:
                continue  # a second attempt of a task whose outcome came already
            self.done[outcome.index] = outcome
            try:
                self._replay(outcome)
            except Exception as exc:  # noqa: BLE001 - the rejects limit, say: stops the job
                self._fail(exc, job)
            if outcome.error is not None and not isinstance(outcome.error, Cancelled):
                self._fail(outcome.error, job)

    def _replay(self, outcome: Outcome) -> None:
        for index, method, args, kwargs in outcome.notes:
            target = self.shared.notify[index]
            if target is not None:
                getattr(target, method)(*args, **kwargs)
        for index, method, args, kwargs in outcome.handback:
            target = self.shared.forward[index]
            if target is not None:
                getattr(target, method)(*args, **kwargs)

    def _fail(self, error: BaseException, job: _Job) -> None:
        if self.first_error is None:
            self.first_error = error
            job.cancel()

    def results(self) -> list[Any]:
        return [self.done[i].result for i in range(self.total)]


def _job_failed(error: BaseException) -> TransientError:
    return TransientError(
        f"the Spark job failed: {_first_line(error)}",
        hint="a task failed more often than spark.task.maxFailures allows (an executor lost, "
        "out of memory?); a re-run resumes where it stopped",
    )


def _monotonic() -> float:
    import time  # noqa: PLC0415 - the engine measures its own waits only here

    return time.monotonic()
