"""A run's own folder in the state store: ``ddbmigrate/runs/<run-id>/``.

It holds the rejects file (and, for Spark tasks, one rejects file per source file under
``rejects/tasks/``); the resume ledger lives beside it. Every write is a whole object
(atomic on S3 and, through temp file + os.replace, on a local directory).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ddbmigrate.errors import FatalError
from ddbmigrate.model import Item
from ddbmigrate.ports import Clock, Store

RUNS_DIR = "ddbmigrate/runs"
REJECTS_FILE = "rejects/rejects.jsonl"
TASK_REJECTS_DIR = "rejects/tasks"


def new_run_id(clock: Clock, token: str) -> str:
    """Sortable and unique enough: ``20260101T000000Z-<token>``."""
    stamp = clock.now_iso()
    compact = stamp[:19].replace("-", "").replace(":", "")
    return f"{compact}Z-{token}"


class RejectLimitError(FatalError):
    """More items were rejected than ``--max-rejects`` allows."""


class RejectsError(FatalError):
    """The run finished, but some items were rejected (and recorded, not written)."""


@dataclass(frozen=True, slots=True)
class Reject:
    """One thing that could not be written: where it came from and why."""

    file: str
    line: int
    """1-based line (or item index); 0 when the whole file was refused."""
    reason: str
    item: Item | None = None

    def to_json(self) -> bytes:
        body: dict[str, Any] = {"file": self.file, "line": self.line, "reason": self.reason}
        if self.item is not None:
            body["item"] = self.item
        return orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)


class RejectLog:
    """Records rejects in the run folder; stops the run past ``max_rejects``. Thread-safe."""

    def __init__(self, store: Store, run_dir: str, *, max_rejects: int) -> None:
        self._store = store
        self._dir = run_dir
        self._key = f"{run_dir}/{REJECTS_FILE}"
        self.max_rejects = max_rejects
        self.rejects: list[Reject] = self._load()
        self._lock = threading.Lock()

    def _load(self) -> list[Reject]:
        """A resumed run keeps the rejects it recorded before, and those Spark tasks kept
        that a stopped driver never merged into the rejects file."""
        merged, found = _recorded(self._store, self._dir)
        if len(found) > len(merged):  # the rejects file is the one place users look
            self._store.put(self._key, b"".join(r.to_json() for r in found))
        return found

    @property
    def url(self) -> str:
        return f"{self._store.root.rstrip('/')}/{self._key}"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.rejects)

    def record(self, reject: Reject) -> None:
        """Write the reject down at once (a crash keeps it), then enforce the limit."""
        with self._lock:
            # A resumed run reads a file again: the same bad line is one reject, not two.
            if not any(_same(r, reject) for r in self.rejects):
                self.rejects.append(reject)
                self._store.put(self._key, b"".join(r.to_json() for r in self.rejects))
            count = len(self.rejects)
        if count > self.max_rejects:
            raise RejectLimitError(
                f"{reject.file} line {reject.line}: {reject.reason}",
                hint=f"{count} rejected so far (limit --max-rejects {self.max_rejects}); "
                f"all are listed in {self.url}",
            )

    def task_side(self) -> TaskRejects:
        """What this log is in a Spark task (see :class:`TaskRejects`)."""
        with self._lock:
            known = list(self.rejects)
        return TaskRejects(
            store=self._store, run_dir=self._dir, max_rejects=self.max_rejects, known=known
        )

    def raise_if_any(self) -> None:
        """At the end of a run: rejects mean a non-zero exit, even under the limit."""
        if self.rejects:
            first = self.rejects[0]
            raise RejectsError(
                f"{len(self.rejects)} item(s) or file(s) were rejected and not written; first: "
                f"{first.file} line {first.line}: {first.reason}",
                hint=f"see {self.url}",
            )


@dataclass(slots=True, kw_only=True)
class TaskRejects:
    """A Spark task's rejects: written at once to a file of the source file they belong to
    (so a crash keeps them, and a retried task rewrites the same file), refused past the
    limit as soon as this task alone goes over it, and handed back for the driver to merge
    into the run's rejects file, where the limit counts every task's."""

    store: Store
    run_dir: str
    max_rejects: int
    known: list[Reject]
    """The run's rejects when the step started."""
    mine: list[Reject] = field(default_factory=list)

    def record(self, reject: Reject) -> None:
        if any(_same(r, reject) for r in [*self.known, *self.mine]):
            return
        self.mine.append(reject)
        same_file = [r for r in self.mine if r.file == reject.file]
        name = hashlib.sha1(reject.file.encode(), usedforsecurity=False).hexdigest()
        key = f"{self.run_dir}/{TASK_REJECTS_DIR}/{name}.jsonl"
        self.store.put(key, b"".join(r.to_json() for r in same_file))
        count = len(self.known) + len(self.mine)
        if count > self.max_rejects:
            raise RejectLimitError(
                f"{reject.file} line {reject.line}: {reject.reason}",
                hint=f"{count} rejected so far (limit --max-rejects {self.max_rejects}); "
                f"all are listed in {self.store.root.rstrip('/')}/{self.run_dir}/rejects/",
            )

    def handback(self) -> list[tuple[str, tuple[Reject], dict[str, object]]]:
        """Calls for the driver to make on the run's RejectLog."""
        return [("record", (r,), {}) for r in self.mine]


@dataclass(frozen=True, slots=True)
class RejectCount:
    """How many rejects a run recorded and where they are listed, read without writing
    (``status`` must not merge a stopped Spark run's task files into the rejects file)."""

    count: int
    url: str

    @classmethod
    def of(cls, store: Store, run_dir: str) -> RejectCount:
        _, found = _recorded(store, run_dir)
        return cls(len(found), f"{store.root.rstrip('/')}/{run_dir}/{REJECTS_FILE}")


def _recorded(store: Store, run_dir: str) -> tuple[list[Reject], list[Reject]]:
    """A run's rejects: the rejects file's, and those with every Spark task file's merged
    in (each reject once)."""
    key = f"{run_dir}/{REJECTS_FILE}"
    merged = _merged(store, [key] if store.exists(key) else [], [])
    return merged, _merged(store, sorted(store.list(f"{run_dir}/{TASK_REJECTS_DIR}/")), merged)


def _merged(store: Store, keys: list[str], found: list[Reject]) -> list[Reject]:
    """``found`` and the rejects the files ``keys`` list that it lacks."""
    found = list(found)
    for key in keys:
        for reject in _parse(store.get(key).splitlines()):
            if not any(_same(r, reject) for r in found):
                found.append(reject)
    return found


def _parse(lines: Iterable[bytes]) -> list[Reject]:
    found = []
    for line in lines:
        if line.strip():
            body = orjson.loads(line)
            found.append(Reject(body["file"], body["line"], body["reason"], body.get("item")))
    return found


def _same(a: Reject, b: Reject) -> bool:
    return (a.file, a.line, a.reason) == (b.file, b.line, b.reason)
