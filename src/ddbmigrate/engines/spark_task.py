"""What travels to the Spark executors, and what a task does there.

The driver side (``engines.spark``) builds a :class:`TaskPlan` per step and follows the
:class:`Outcome` of each task through an accumulator of :class:`Outcomes`; every task runs
:class:`TaskRunner`, which runs its units with :func:`run_unit`. Nothing here imports
pyspark: the accumulator's parameter is duck-typed, and a task is plain Python on an
executor that has ddbmigrate installed (the classes pickle by reference to this module).
See ``engines.spark``'s docstring for how the Engine contract maps onto Spark.
"""

from __future__ import annotations

import gc
import io
import pickle
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ddbmigrate.engines.local import Shared, dumps_job
from ddbmigrate.engines.portable import from_spark_task
from ddbmigrate.errors import FatalError
from ddbmigrate.ports import Budget


class TaskSide(Protocol):
    """What a forwarded object becomes in a Spark task (see ``engines.spark``'s docstring)."""

    def task_side(self) -> object:
        """A picklable stand-in with the same methods, for one task."""
        ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one task hands back to the driver."""

    index: int
    result: Any
    error: BaseException | None
    notes: list[tuple[int, str, tuple[Any, ...], dict[str, Any]]]
    """Observer calls the task made: (notify index, method, args, kwargs), in order."""
    handback: list[tuple[int, str, tuple[Any, ...], dict[str, Any]]]
    """Calls for the driver to make on forwarded objects (a task's rejects, say)."""


class Outcomes:
    """AccumulatorParam (duck-typed, so this module needs no pyspark): a list of outcomes."""

    def zero(self, value: list[Outcome]) -> list[Outcome]:
        return []

    def addInPlace(self, first: list[Outcome], second: list[Outcome]) -> list[Outcome]:  # noqa: N802 - pyspark's name
        first.extend(second)
        return first


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """A step's job for the executors: the unit function pickled without the shared
    objects, and what stands in for them in a task."""

    payload: bytes
    sides: bytes
    """Pickled (task sides of the forwarded objects, budget shares); unpickled per unit, so
    every unit starts with fresh ones."""
    notify: int

    @classmethod
    def build(cls, fn: Callable[..., Any], shared: Shared, parts: int) -> TaskPlan:
        forward = tuple(_task_side(obj) for obj in shared.forward)
        budgets = tuple(b.share(parts) for b in shared.budgets)
        return cls(
            payload=dumps_job(fn, shared, where="as Spark tasks", hint="use --engine local"),
            sides=_dumps((forward, budgets), "the task sides of the run's ledger and rejects"),
            notify=len(shared.notify),
        )

    def load(
        self,
    ) -> tuple[Callable[[Any, threading.Event], Any], list[object | None], list[_Recorder]]:
        forward, budgets = pickle.loads(self.sides)  # noqa: S301 - our own bytes, from the driver
        recorders = [_Recorder() for _ in range(self.notify)]
        fn = _JobUnpickler(self.payload, forward, recorders, budgets).load()
        return fn, forward, recorders


def _task_side(obj: object | None) -> object | None:
    if obj is None:
        return None
    if not hasattr(obj, "task_side"):
        raise FatalError(
            f"{type(obj).__name__} has no task side, so it cannot be used from Spark tasks",
            hint="use --engine local",
        )
    side: TaskSide = obj  # a task_side method, checked just above
    return side.task_side()


def _dumps(value: object, what: str) -> bytes:
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise FatalError(f"{what} cannot be sent to Spark executors: {exc}") from exc


class _JobUnpickler(pickle.Unpickler):
    def __init__(
        self,
        data: bytes,
        forward: list[object | None],
        recorders: list[_Recorder],
        budgets: list[Budget],
    ) -> None:
        super().__init__(io.BytesIO(data))
        self._objects: dict[str, list[Any]] = {
            "forward": forward,
            "notify": list(recorders),
            "budget": list(budgets),
        }

    def persistent_load(self, pid: Any) -> Any:
        kind, index = pid
        return self._objects[kind][index]


class _Recorder:
    """Stands in a task for an observer: records its calls for the driver to replay.

    ``advanced(step, n)`` calls in a row are summed into one: a segment of 10,000 pages
    hands back one progress call, not 10,000."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> None:
            with self._lock:
                self._add(name, args, kwargs)

        return call

    def _add(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if name == "advanced" and self.calls and not kwargs and len(args) == 2:
            last_name, last_args, last_kwargs = self.calls[-1]
            if last_name == "advanced" and not last_kwargs and last_args[0] == args[0]:
                self.calls[-1] = (name, (args[0], last_args[1] + args[1]), {})
                return
        self.calls.append((name, args, kwargs))


class TaskRunner:
    """The function of every task (picklable by reference: ddbmigrate is installed on the
    executors). Runs the partition's units and adds one outcome per unit."""

    def __init__(self, plan: TaskPlan, outcomes: Any) -> None:
        self.plan = plan
        self.outcomes = outcomes

    def __call__(self, partition: Iterator[tuple[int, Any]]) -> None:
        _tune_gc()
        for index, unit in partition:
            self.outcomes.add([run_unit(self.plan, index, unit)])


def run_unit(plan: TaskPlan, index: int, unit: Any) -> Outcome:
    """One unit in a task: its result or its error, with what the driver must replay."""
    fn, forward, recorders = plan.load()
    result, error = None, None
    try:
        result = fn(unit, threading.Event())
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the driver
        error = from_spark_task(exc)
    notes = [(i, *call) for i, rec in enumerate(recorders) for call in rec.calls]
    handback = [
        (i, *call)
        for i, side in enumerate(forward)
        for call in (getattr(side, "handback", list)() if side is not None else [])
    ]
    return Outcome(index, result, error, notes, handback)


_GC_TUNED = threading.Event()


def _tune_gc() -> None:
    """As in the local engine's workers: the hot loop allocates many short-lived dicts, and
    collecting them less often saves about a third of the CPU. Once per Python worker."""
    if not _GC_TUNED.is_set():
        _GC_TUNED.set()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
