"""The run ledger: small atomic state files that make a run resumable.

Kept in the staging store under ``ddbmigrate/runs/<run-id>/``::

    run.json                    plan, plan hash, format version, step states, export id
    lock.json                   who is running it now (host, pid, heartbeat)
    export/<segment>.json       last flushed LastEvaluatedKey, finished parts, done flag
    import/<file-hash>.json     a finished import file and its item count

Each file is written whole (S3 PUT, or temp file + os.replace), so a crash leaves the old
state or the new one. Export records a segment after each flushed part; import records a
file once all its items are written. A re-run skips what is recorded and redoes the rest:
writes are idempotent puts, so redoing an unrecorded part or file loses nothing.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ddbmigrate.errors import ConfigError, DdbMigrateError, FatalError, NotFoundError
from ddbmigrate.model import Item, PartInfo
from ddbmigrate.ports import Clock, Store
from ddbmigrate.runs import RUNS_DIR

LEDGER_VERSION = 1
STEPS = ("preflight", "schema", "export", "import", "validate")
# A lock whose holder has not written a heartbeat for this long is taken to be dead.
STALE_LOCK_SECONDS = 120.0
HEARTBEAT_SECONDS = 30.0


def plan_hash(plan: Mapping[str, Any]) -> str:
    """A short stable digest of what a run is: same command and options, same hash."""
    return hashlib.sha256(orjson.dumps(plan, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


class LedgerConflictError(FatalError):
    """The run is held by another live process, or its plan differs from the command."""


@dataclass(slots=True)
class SegmentState:
    """How far one Scan segment got."""

    index: int
    total: int
    last_key: Item | None = None
    parts: list[PartInfo] = field(default_factory=list)
    done: bool = False

    @property
    def items(self) -> int:
        return sum(p.item_count for p in self.parts)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "segment": self.index,
                "total": self.total,
                "last_key": self.last_key,
                "done": self.done,
                "parts": [
                    {"key": p.key, "items": p.item_count, "md5": p.md5_b64, "size": p.size}
                    for p in self.parts
                ],
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> SegmentState:
        body = orjson.loads(data)
        return cls(
            index=int(body["segment"]),
            total=int(body["total"]),
            last_key=body.get("last_key"),
            done=bool(body.get("done")),
            parts=[
                PartInfo(key=p["key"], item_count=p["items"], md5_b64=p["md5"], size=p["size"])
                for p in body.get("parts", [])
            ],
        )


class Ledger:
    """One run's state in a store. Thread-safe for the writes workers make."""

    def __init__(self, store: Store, run_id: str, clock: Clock) -> None:
        self.store = store
        self.run_id = run_id
        self.clock = clock
        self.dir = f"{RUNS_DIR}/{run_id}"
        self._lock = threading.Lock()
        self._run: dict[str, Any] = {}
        self._pending: tuple[str, Mapping[str, Any]] | None = None
        self._beating = threading.Event()

    def prepare(self, *, command: str, plan: Mapping[str, Any]) -> None:
        """A new run, written only by :meth:`start`: a run refused by preflight leaves nothing."""
        self._pending = (command, plan)
        self._run = {"steps": dict.fromkeys(STEPS, "pending")}

    @property
    def started(self) -> bool:
        return self._pending is None

    def start(self) -> None:
        """Write a prepared run (and take its lock); nothing to do for a loaded one."""
        if self._pending is None:
            return
        command, plan = self._pending
        self.acquire()
        self.create(command=command, plan=plan)
        self._pending = None

    @property
    def url(self) -> str:
        return f"{self.store.root.rstrip('/')}/{self.dir}"

    # --- run.json -----------------------------------------------------------------------

    def create(self, *, command: str, plan: Mapping[str, Any]) -> None:
        self._run = {
            "version": LEDGER_VERSION,
            "run_id": self.run_id,
            "command": command,
            "plan": plan,
            "plan_hash": plan_hash(plan),
            "created": self.clock.now_iso(),
            "steps": dict.fromkeys(STEPS, "pending"),
            "finished": False,
        }
        self._save_run()

    def load(self) -> dict[str, Any]:
        key = f"{self.dir}/run.json"
        if not self.store.exists(key):
            raise NotFoundError(
                f"no run {self.run_id!r} under {self.store.root}",
                hint="`ddbmigrate status --staging URL` lists the runs there",
            )
        run = orjson.loads(self.store.get(key))
        if int(run.get("version", 0)) > LEDGER_VERSION:
            raise LedgerConflictError(
                f"run {self.run_id!r} was written by a newer ddbmigrate (ledger version "
                f"{run['version']}, this one reads {LEDGER_VERSION})",
                hint="upgrade ddbmigrate to resume it",
            )
        self._run = dict(run)
        return self._run

    @property
    def run(self) -> dict[str, Any]:
        return self._run

    def check_plan(self, plan: Mapping[str, Any], *, ignore: Collection[str] = ()) -> None:
        """Refuse to continue a run with another plan (other table, other staging ...).

        ``ignore`` names plan entries the resuming command decides (its sides: a run's
        record never says where data goes or with which credentials)."""
        if plan_hash(plan) == self._run.get("plan_hash"):
            return
        was = self._run.get("plan", {})
        keys = (set(was) | set(plan)) - set(ignore)
        changed = sorted(k for k in keys if was.get(k) != plan.get(k))
        if not changed:
            return
        raise LedgerConflictError(
            f"run {self.run_id!r} was started with other options: {', '.join(changed)} differ",
            hint="re-run it with the options it was started with (see `ddbmigrate status "
            f"{self.run_id}`), or start a new run",
        )

    def set(self, **fields: Any) -> None:
        self.start()
        with self._lock:
            self._run.update(fields)
            self._save_run()

    def step(self, name: str, state: str) -> None:
        self.start()
        with self._lock:
            self._run["steps"][name] = state
            self._save_run()

    def step_state(self, name: str) -> str:
        return str(self._run.get("steps", {}).get(name, "pending"))

    def finish(self) -> None:
        self.set(finished=True, ended=self.clock.now_iso())

    def _save_run(self) -> None:
        self.store.put(f"{self.dir}/run.json", orjson.dumps(self._run, option=orjson.OPT_INDENT_2))

    # --- lock ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """Hold the run; refuse when another live process holds it."""
        key = f"{self.dir}/lock.json"
        if self.store.exists(key):
            holder = orjson.loads(self.store.get(key))
            if _alive(holder, self.clock):
                raise LedgerConflictError(
                    f"run {self.run_id!r} is being run by process {holder.get('pid')} on "
                    f"{holder.get('host')} (heartbeat {holder.get('heartbeat')})",
                    hint="wait for it to finish, or stop it; a dead holder's lock expires after "
                    f"{STALE_LOCK_SECONDS:.0f} s",
                )
        self.heartbeat()
        self._beating.clear()
        threading.Thread(target=self._beat, name="ledger-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        """Keep the lock fresh while the run lives: other hosts judge it by its age."""
        while not self._beating.wait(HEARTBEAT_SECONDS):
            try:
                self.heartbeat()
            except DdbMigrateError:
                continue  # a missed beat is harmless; the next one will do

    def heartbeat(self) -> None:
        body = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "heartbeat": self.clock.now_iso(),
            "at": self.clock.now_ms(),
        }
        self.store.put(f"{self.dir}/lock.json", orjson.dumps(body))

    def release(self) -> None:
        self._beating.set()
        if self.started:
            self.store.delete(f"{self.dir}/lock.json")

    # --- export segments ----------------------------------------------------------------

    def segments(self) -> dict[int, SegmentState]:
        found: dict[int, SegmentState] = {}
        for key in self.store.list(f"{self.dir}/export/"):
            if key.endswith(".json"):
                state = SegmentState.from_json(self.store.get(key))
                found[state.index] = state
        return found

    def save_segment(self, state: SegmentState) -> None:
        UnitRecords(self.store, self.dir, self.clock).save_segment(state)

    # --- import files -------------------------------------------------------------------

    def imported_files(self) -> dict[str, int]:
        done: dict[str, int] = {}
        for key in self.store.list(f"{self.dir}/import/"):
            if key.endswith(".json"):
                body = orjson.loads(self.store.get(key))
                done[str(body["key"])] = int(body["items"])
        return done

    def save_imported(self, file_key: str, items: int) -> None:
        UnitRecords(self.store, self.dir, self.clock).save_imported(file_key, items)

    # --- on Spark executors ---------------------------------------------------------------

    def task_side(self) -> UnitRecords:
        """What this ledger is in a Spark task: the per-unit records, written straight to
        the store (each is a whole object of its own, so tasks never write the same one).
        Steps, the plan and the lock stay with the driver."""
        return UnitRecords(self.store, self.dir, self.clock)


@dataclass(frozen=True, slots=True)
class UnitRecords:
    """Writes one run's per-unit records: a segment's progress, a finished import file."""

    store: Store
    dir: str
    clock: Clock

    def save_segment(self, state: SegmentState) -> None:
        self.store.put(f"{self.dir}/export/{state.index:06d}.json", state.to_json())

    def save_imported(self, file_key: str, items: int) -> None:
        name = hashlib.sha1(file_key.encode(), usedforsecurity=False).hexdigest()
        body = orjson.dumps({"key": file_key, "items": items, "at": self.clock.now_iso()})
        self.store.put(f"{self.dir}/import/{name}.json", body)


def _alive(holder: dict[str, Any], clock: Clock) -> bool:
    """A lock is live when its holder runs on this host, or has beaten its heart lately."""
    if holder.get("host") == socket.gethostname():
        return _pid_alive(int(holder.get("pid", 0))) and int(holder.get("pid", 0)) != os.getpid()
    return (clock.now_ms() - int(holder.get("at", 0))) / 1000 < STALE_LOCK_SECONDS


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_runs(store: Store) -> list[dict[str, Any]]:
    """Every run recorded in a store, oldest first."""
    runs = []
    for key in store.list(f"{RUNS_DIR}/"):
        if key.count("/") == 3 and key.endswith("/run.json"):
            runs.append(orjson.loads(store.get(key)))
    return sorted(runs, key=lambda r: str(r.get("run_id")))


def find_unfinished(store: Store, *, command: str, plan: Mapping[str, Any]) -> str | None:
    """The newest unfinished run of the same command and plan, to continue it."""
    wanted = plan_hash(plan)
    for run in reversed(list_runs(store)):
        if run.get("command") == command and run.get("plan_hash") == wanted:
            if not run.get("finished"):
                return str(run["run_id"])
            return None
    return None


def check_run_id(run_id: str) -> str:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise ConfigError(f"run id {run_id!r} is not valid")
    return run_id


@dataclass(frozen=True, slots=True)
class RunStatus:
    """Where a run stands, for ``ddbmigrate status``."""

    run_id: str
    command: str
    created: str
    finished: bool
    steps: dict[str, str]
    plan: dict[str, Any]
    segments_done: int
    segments_total: int
    items_exported: int
    files_imported: int
    items_imported: int
    holder: str | None
    """``pid@host`` of the process holding the run now, if any."""

    def lines(self) -> list[str]:
        state = "finished" if self.finished else "unfinished"
        held = f", held by {self.holder}" if self.holder else ""
        tables = " -> ".join(
            str(self.plan[k]) for k in ("source_table", "dest_table", "table") if k in self.plan
        )
        steps = ", ".join(f"{k} {v}" for k, v in self.steps.items() if v != "pending")
        return [
            f"{self.run_id}  {self.command} {tables}  {state}{held}  (started {self.created})",
            f"  steps     {steps or 'none yet'}",
            f"  export    {self.segments_done}/{self.segments_total} segments, "
            f"{self.items_exported} items",
            f"  import    {self.files_imported} files, {self.items_imported} items",
        ]


def run_status(store: Store, run: dict[str, Any], clock: Clock) -> RunStatus:
    ledger = Ledger(store, str(run["run_id"]), clock)
    segments = ledger.segments()
    imported = ledger.imported_files()
    holder = None
    lock_key = f"{ledger.dir}/lock.json"
    if store.exists(lock_key):
        lock = orjson.loads(store.get(lock_key))
        if _alive(lock, clock):
            holder = f"{lock.get('pid')}@{lock.get('host')}"
    return RunStatus(
        run_id=str(run["run_id"]),
        command=str(run.get("command")),
        created=str(run.get("created")),
        finished=bool(run.get("finished")),
        steps=dict(run.get("steps", {})),
        plan=dict(run.get("plan", {})),
        segments_done=sum(1 for s in segments.values() if s.done),
        segments_total=int(run.get("segments") or 0),
        items_exported=sum(s.items for s in segments.values()),
        files_imported=len(imported),
        items_imported=sum(imported.values()),
        holder=holder,
    )
