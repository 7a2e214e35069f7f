"""The run ledger: small atomic state files that make a run resumable.

Kept in the staging store under ``ddbmigrate/runs/<run-id>/``::

    run.json                    plan, plan hash, format version, step states, export id
    export/<segment>.json       last flushed LastEvaluatedKey, finished parts, done flag
    import/<file-hash>.json     a finished import file and its item count

Each file is written whole (S3 PUT, or temp file + os.replace), so a crash leaves the old
state or the new one. Export records a segment after each flushed part; import records a
file once all its items are written. A re-run skips what is recorded and redoes the rest:
writes are idempotent puts, so redoing an unrecorded part or file loses nothing.

Who runs a plan now is not recorded here but in the plan's lock (``ddbmigrate.planlock``),
taken before preflight; a ledger holds that lock and releases it with the run. A damaged
file of the ledger is a one-line ``LedgerDamagedError`` naming its key, never a traceback.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from ddbmigrate.errors import ConfigError, NotFoundError
from ddbmigrate.model import Item, PartInfo
from ddbmigrate.planlock import (
    LedgerConflictError,
    LedgerDamagedError,
    PlanLock,
    damaged,
    live_holder,
    read_record,
)
from ddbmigrate.ports import Clock, Store
from ddbmigrate.runs import RUNS_DIR, RejectCount

__all__ = [
    "Ledger",
    "LedgerConflictError",
    "LedgerDamagedError",
    "RunStatus",
    "SegmentState",
    "UnitRecords",
    "check_run_id",
    "find_unfinished",
    "list_runs",
    "plan_hash",
    "run_status",
    "scan_runs",
]

LEDGER_VERSION = 1
STEPS = ("preflight", "schema", "export", "import", "validate")
_DAMAGED_RUN_HINT = (
    "a damaged run cannot be resumed: move its folder out of ddbmigrate/runs/ (keep it to "
    "look into), then run again"
)


def plan_hash(plan: Mapping[str, Any]) -> str:
    """A short stable digest of what a run is: same command and options, same hash."""
    return hashlib.sha256(orjson.dumps(plan, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


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
        self.lock: PlanLock | None = None
        """The plan's lock, held for this run (``ddbmigrate.api`` takes it)."""

    def prepare(self, *, command: str, plan: Mapping[str, Any]) -> None:
        """A new run, written only by :meth:`start`: a run refused by preflight leaves nothing."""
        self._pending = (command, plan)
        self._run = {"steps": dict.fromkeys(STEPS, "pending")}

    @property
    def started(self) -> bool:
        return self._pending is None

    def start(self) -> None:
        """Write a prepared run; nothing to do for a loaded one."""
        if self._pending is None:
            return
        command, plan = self._pending
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
        run = read_run(self.store, key)
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
        self._check_held()
        self.store.put(f"{self.dir}/run.json", orjson.dumps(self._run, option=orjson.OPT_INDENT_2))

    # --- lock ---------------------------------------------------------------------------

    def hold(self, lock: PlanLock) -> None:
        """Run under ``lock`` (already taken), and name this run in it."""
        self.lock = lock
        lock.holding(self.run_id)

    def _check_held(self) -> None:
        if self.lock is not None and self.lock.lost:
            # Another process runs this plan now: writing on would mix two runs' records.
            raise LedgerConflictError(
                self.lock.lost, hint="let the other run finish; see `ddbmigrate status`"
            )

    def release(self) -> None:
        """Release the plan's lock, if this run holds it."""
        if self.lock is not None:
            self.lock.release()

    # --- export segments ----------------------------------------------------------------

    def segments(self) -> dict[int, SegmentState]:
        found: dict[int, SegmentState] = {}
        for key in self.store.list(f"{self.dir}/export/"):
            if key.endswith(".json"):
                state = _parsed(self.store, key, SegmentState.from_json)
                found[state.index] = state
        return found

    def save_segment(self, state: SegmentState) -> None:
        self._check_held()
        UnitRecords(self.store, self.dir, self.clock).save_segment(state)

    # --- import files -------------------------------------------------------------------

    def imported_files(self) -> dict[str, int]:
        done: dict[str, int] = {}
        for key in self.store.list(f"{self.dir}/import/"):
            if key.endswith(".json"):
                body = _parsed(self.store, key, _import_record)
                done[str(body["key"])] = int(body["items"])
        return done

    def save_imported(self, file_key: str, items: int) -> None:
        self._check_held()
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


def _import_record(data: bytes) -> dict[str, Any]:
    body = orjson.loads(data)
    return {"key": str(body["key"]), "items": int(body["items"])}


T = TypeVar("T")


def _parsed(store: Store, key: str, parse: Callable[[bytes], T]) -> T:
    """A per-unit record parsed, or LedgerDamagedError naming its key."""
    try:
        return parse(store.get(key))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise damaged(
            store, key, "run ledger file", f"{type(exc).__name__}: {exc}", _DAMAGED_RUN_HINT
        ) from exc


_RUN_FIELDS = {"run_id": str, "command": str, "plan": dict}


def read_run(store: Store, key: str) -> dict[str, Any]:
    """A run.json, checked to be a run record; LedgerDamagedError naming it otherwise."""
    run = read_record(store, key, what="run ledger file", hint=_DAMAGED_RUN_HINT)
    for name, kind in _RUN_FIELDS.items():
        if not isinstance(run.get(name), kind):
            reason = f"not a run record: {name!r} is missing or not a {kind.__name__}"
            raise damaged(store, key, "run ledger file", reason, _DAMAGED_RUN_HINT)
    return run


def scan_runs(store: Store) -> tuple[list[dict[str, Any]], dict[str, LedgerDamagedError]]:
    """Every run recorded in a store, oldest first, and the damaged ones by run id
    (the folder's name), so that one damaged run hides none of the others."""
    runs: list[dict[str, Any]] = []
    broken: dict[str, LedgerDamagedError] = {}
    for key in store.list(f"{RUNS_DIR}/"):
        if key.count("/") == 3 and key.endswith("/run.json"):
            try:
                runs.append(read_run(store, key))
            except LedgerDamagedError as exc:
                broken[key.split("/")[2]] = exc
    return sorted(runs, key=lambda r: str(r.get("run_id"))), broken


def list_runs(store: Store) -> list[dict[str, Any]]:
    """Every run recorded in a store, oldest first; LedgerDamagedError when one is damaged
    (it may be the run a command would continue)."""
    runs, broken = scan_runs(store)
    if broken:
        raise next(iter(broken.values()))
    return runs


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
    damaged: str | None = None
    """Why the run's ledger cannot be read (then the counts above are zeros)."""
    rejects: int = 0
    """Items or files recorded as rejected (not written)."""
    rejects_url: str | None = None
    """Where they are listed, when there are any."""
    live: dict[str, Any] | None = None
    """A live run's replay, from its shard checkpoints (``steps.live.live_figures``)."""

    @property
    def state(self) -> str:
        """finished; running (a live process holds its lock); stopped (unfinished, and no
        live holder: the process ended, or its heartbeat went stale); live (a live run
        whose copy is done, waiting for ``sync`` or ``cutover``); unknown (its lock file is
        damaged); damaged (its ledger is)."""
        if self.damaged:
            return "damaged"
        if self.finished:
            return "finished"
        if self.holder and self.holder.startswith(_UNKNOWN_HOLDER):
            return "unknown"  # its lock is damaged: it may be running
        if self.holder:
            return "running"
        return "live" if self.between_live_commands else "stopped"

    @property
    def between_live_commands(self) -> bool:
        """A live run whose copy is done: it stays open for ``sync`` and ``cutover``."""
        copy = {k: v for k, v in self.steps.items() if k not in _LIVE_LATER}
        return self.live is not None and bool(copy) and set(copy.values()) == {"done"}

    @classmethod
    def of_damaged(cls, run_id: str, error: LedgerDamagedError) -> RunStatus:
        """A run whose ledger is damaged: listed with the reason, so it is not missed."""
        return cls(
            run_id=run_id,
            command="?",
            created="?",
            finished=False,
            steps={},
            plan={},
            segments_done=0,
            segments_total=0,
            items_exported=0,
            files_imported=0,
            items_imported=0,
            holder=None,
            damaged=f"{error.message}; {error.hint}" if error.hint else error.message,
        )

    def lines(self) -> list[str]:
        if self.damaged:
            return [f"{self.run_id}  DAMAGED: {self.damaged}"]
        held = {"running": f" by {self.holder}", "unknown": f", held by {self.holder}"}.get(
            self.state, ""
        )
        tables = " -> ".join(
            str(self.plan[k]) for k in ("source_table", "dest_table", "table") if k in self.plan
        )
        steps = ", ".join(f"{k} {v}" for k, v in self.steps.items() if v != "pending")
        return [
            f"{self.run_id}  {self.command} {tables}  {self.state}{held}  (started {self.created})",
            f"  steps     {steps or 'none yet'}",
            f"  export    {self.segments_done:,}/{self.segments_total:,} segments, "
            f"{self.items_exported:,} items",
            f"  import    {self.files_imported:,} files, {self.items_imported:,} items",
            f"  rejects   {self.rejects:,}" + (f" in {self.rejects_url}" if self.rejects else ""),
            *_live_lines(self.live),
        ]


_UNKNOWN_HOLDER = "nobody knows: "
_LIVE_LATER = frozenset({"replay", "validate"})
"""A live run's steps that ``sync`` and ``cutover`` run, after the copy."""


def _live_lines(live: dict[str, Any] | None) -> list[str]:
    if live is None:
        return []
    lag = live.get("lag_seconds")
    return [
        f"  replay    {live['applied']:,} records applied, {live['shards_open']} shards open, "
        f"{live['shards_finished']} read to their end, "
        f"lag {'-' if lag is None else f'{lag:.1f}s'}"
    ]


def run_status(store: Store, run: dict[str, Any], clock: Clock) -> RunStatus:
    """Where a run stands; a damaged record of it lists it as damaged."""
    try:
        return _run_status(store, run, clock)
    except LedgerDamagedError as exc:
        return RunStatus.of_damaged(str(run["run_id"]), exc)


def _holder_of(store: Store, run: dict[str, Any], clock: Clock) -> str | None:
    """``pid@host`` when the run's plan lock is held by this run now."""
    try:
        holder = live_holder(store, str(run["command"]), run["plan"], clock)
    except LedgerDamagedError as exc:
        return f"{_UNKNOWN_HOLDER}{exc.message}"
    if holder is None or holder.get("run_id") != run["run_id"]:
        return None
    return f"{holder.get('pid')}@{holder.get('host')}"


def _run_status(store: Store, run: dict[str, Any], clock: Clock) -> RunStatus:
    ledger = Ledger(store, str(run["run_id"]), clock)
    segments = ledger.segments()
    imported = ledger.imported_files()
    holder = _holder_of(store, run, clock)
    rejects = RejectCount.of(store, ledger.dir)
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
        rejects=rejects.count,
        rejects_url=rejects.url if rejects.count else None,
    )
