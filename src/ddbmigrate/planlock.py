"""One run of a plan at a time: a lock in the staging store, taken before preflight.

A plan's lock is a folder of small files, one per *generation*::

    ddbmigrate/locks/<sha256 of the plan key>/<generation>.json

The plan key is what two runs must never share: the source and destination tables of a
``migrate``, the table of an ``export``, the source and table of an ``import``. The staging
itself needs no spelling: the lock lives in it (so ``s3://b/p`` and ``s3://b/p/`` are one).

Taking the lock is creating a generation one above the highest present with
``Store.put_if_absent`` (``O_EXCL`` semantics on disk, ``If-None-Match: *`` on S3), allowed
only when no generation present has a live holder: of any number of takers racing for one
generation, exactly one creates it. That makes the takeover of a dead holder's lock safe
with no compare-and-swap on the old file: two takers of one stale generation both try to
create the same next one. A taker whose listing was old could create a generation beside a
live one (the folder emptied and refilled meanwhile), so every taker looks again after
creating its own and gives way to any other live holder it sees. The winner deletes the
dead generations below its own; a run that ends deletes its own, so a staging directory
keeps no lock of a command that is over (a run refused by preflight leaves nothing).

The holder rewrites its own file as a heartbeat; a holder is alive while its process runs
(same host) or while it has beaten lately (other hosts, ``STALE_LOCK_SECONDS``). A holder
that finds a newer live generation has lost the lock (it was paused long enough to look
dead) and says so at its next ledger write instead of going on beside the new holder.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from ddbmigrate.errors import CorruptDataError, DdbMigrateError, FatalError, NotFoundError
from ddbmigrate.ports import Clock, Store

LOCKS_DIR = "ddbmigrate/locks"
# A lock whose holder has not written a heartbeat for this long is taken to be dead.
STALE_LOCK_SECONDS = 120.0
HEARTBEAT_SECONDS = 30.0
_ATTEMPTS = 3
"""Takers that lose to a run which has already ended look again, this many times."""
_GENERATION = re.compile(r"^(\d{12})\.json$")
_KEY_FIELDS = {
    "migrate": ("source_table", "dest_table"),
    "export": ("table",),
    "import": ("source", "table"),
}
# Tokens of the locks this process holds now: a lock file naming this very process is
# alive only if one of them wrote it (a leftover of an earlier attempt is not).
_HELD: set[str] = set()


class LedgerConflictError(FatalError):
    """The run is held by another live process, or its plan differs from the command."""


class LedgerDamagedError(CorruptDataError):
    """A run's ledger or lock file cannot be read: not JSON, or not the record expected."""


def damaged(store: Store, key: str, what: str, reason: str, hint: str) -> LedgerDamagedError:
    url = f"{store.root.rstrip('/')}/{key}"
    return LedgerDamagedError(f"{what} {url} is damaged ({reason})", hint=hint)


def read_record(store: Store, key: str, *, what: str, hint: str) -> dict[str, Any]:
    """A JSON object of the ledger; LedgerDamagedError naming the key when it is not one."""
    data = store.get(key)
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise damaged(store, key, what, f"not JSON: {exc}", hint) from exc
    if not isinstance(body, dict):
        raise damaged(store, key, what, "not a JSON object", hint)
    return body


def lock_dir(command: str, plan: Mapping[str, Any]) -> str:
    """The folder of the lock two runs of ``command`` with this plan would share."""
    fields = {f: str(plan.get(f) or "").rstrip("/") for f in _KEY_FIELDS.get(command, ())}
    ident = orjson.dumps({"command": command, **fields}, option=orjson.OPT_SORT_KEYS)
    return f"{LOCKS_DIR}/{hashlib.sha256(ident).hexdigest()}"


class PlanLock:
    """The lock of one plan in one store; held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, store: Store, *, command: str, plan: Mapping[str, Any], clock: Clock):
        self.store = store
        self.clock = clock
        self.dir = lock_dir(command, plan)
        self.command = command
        self.token = uuid.uuid4().hex
        self.run_id: str | None = None
        self.generation: int | None = None
        self.lost: str | None = None
        """Why this process no longer holds the lock, once a newer holder took it."""
        self._beating = threading.Event()
        self._write = threading.Lock()

    def acquire(self, run_id: str | None) -> None:
        """Take the lock for ``run_id`` (None: the run is not chosen yet), or refuse with
        the holder's run id and host."""
        self.run_id = run_id
        _HELD.add(self.token)  # before the file exists: it is alive from its first byte
        won = False
        try:
            won = self._take()
        finally:
            if not won:
                _HELD.discard(self.token)
        if not won:  # pragma: no cover - other runs of the plan starting and ending in a loop
            raise LedgerConflictError(
                f"other runs of the same {self.command} keep taking the lock "
                f"{self.store.root.rstrip('/')}/{self.dir}",
                hint="run it again once they are done",
            )

    def _take(self) -> bool:
        for _ in range(_ATTEMPTS):
            found = self._generations()
            for generation in found:
                self._refuse_if_alive(generation)
            wanted = found[-1] + 1 if found else 0
            created = self.store.put_if_absent(self._key(wanted), self._body())
            # Not created, but ours: our own PUT, retried by the SDK after a lost answer.
            if created or self._holder(wanted).get("token") == self.token:
                try:
                    self._check_alone(wanted)
                    self._won(wanted)
                except BaseException:
                    self.store.delete(self._key(wanted))  # no lock of ours left behind
                    raise
                return True
        return False

    def _check_alone(self, mine: int) -> None:
        """Create, then look. A taker whose listing was old may have created its generation
        beside a live one (the folder emptied and refilled meanwhile); whoever sees another
        live holder after creating its own gives way, so two never both go on: of two
        such takers, the one that looked last sees the other (at worst, both give way)."""
        for generation in self._generations():
            holder = self._holder(generation) if generation != mine else {}
            if holder and holder.get("token") != self.token and alive(holder, self.clock):
                raise self._conflict(holder)

    def holding(self, run_id: str) -> None:
        """Name the run now that it is chosen (the lock is taken before the choice)."""
        self.run_id = run_id
        self.heartbeat()

    def heartbeat(self) -> None:
        """Rewrite our generation with a fresh time, unless a newer holder took the lock."""
        generation = self.generation
        if generation is None:
            return
        newer = [self._holder(g) for g in self._generations() if g > generation]
        holder = next((h for h in newer if h and alive(h, self.clock)), None)
        if holder is not None:
            self.lost = (
                f"the lock of run {self.run_id!r} was taken over by run "
                f"{holder.get('run_id')!r} on {holder.get('host')} (process {holder.get('pid')}):"
                f" this process was silent for over {STALE_LOCK_SECONDS:.0f} s"
            )
            return
        with self._write:
            if self.generation == generation:  # not released meanwhile
                self.store.put(self._key(generation), self._body())

    def release(self) -> None:
        """Delete our generation, only if it is still ours (its token is ours)."""
        self._beating.set()
        _HELD.discard(self.token)
        with self._write:
            generation, self.generation = self.generation, None
        if generation is None:
            return
        try:
            if self._holder(generation).get("token") == self.token:
                self.store.delete(self._key(generation))
        except DdbMigrateError:
            pass  # a lock left behind expires; a failed release must not hide the run's outcome

    def _won(self, generation: int) -> None:
        self.generation = generation
        for older in self._generations():
            if older < generation:  # dead holders' generations: history
                self.store.delete(self._key(older))
        self._beating.clear()
        threading.Thread(target=self._beat, name="plan-lock-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        """Keep the lock fresh while the run lives: other hosts judge it by its age."""
        while not self._beating.wait(HEARTBEAT_SECONDS):
            try:
                self.heartbeat()
            except DdbMigrateError:
                continue  # a missed beat is harmless; the next one will do

    def _refuse_if_alive(self, generation: int) -> None:
        holder = self._holder(generation)
        if holder and alive(holder, self.clock):
            raise self._conflict(holder)

    def _conflict(self, holder: Mapping[str, Any]) -> LedgerConflictError:
        run = holder.get("run_id")
        what = f"run {run!r}" if run else "a run that is starting"
        return LedgerConflictError(
            f"{what} of the same {self.command} is being run by process {holder.get('pid')} "
            f"on {holder.get('host')} (heartbeat {holder.get('heartbeat')})",
            hint="wait for it to finish, or stop it; a dead holder's lock is taken over at "
            f"once on the same host, after {STALE_LOCK_SECONDS:.0f} s without a heartbeat "
            "from another host",
        )

    def _holder(self, generation: int) -> dict[str, Any]:
        """A generation's content; {} when it vanished (superseded meanwhile)."""
        try:
            return self._read(self._key(generation))
        except NotFoundError:
            return {}

    def _read(self, key: str) -> dict[str, Any]:
        return read_record(
            self.store,
            key,
            what="run lock file",
            hint="if no ddbmigrate run of this plan is running, delete that file and run again",
        )

    def _generations(self) -> list[int]:
        found = []
        for key in self.store.list(f"{self.dir}/"):
            matched = _GENERATION.match(key.rpartition("/")[2])
            if matched:
                found.append(int(matched.group(1)))
        return sorted(found)

    def _key(self, generation: int) -> str:
        return f"{self.dir}/{generation:012d}.json"

    def _body(self) -> bytes:
        return orjson.dumps(
            {
                "command": self.command,
                "run_id": self.run_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "token": self.token,
                "heartbeat": self.clock.now_iso(),
                "at": self.clock.now_ms(),
            }
        )


def take_lock(
    store: Store, *, command: str, plan: Mapping[str, Any], run_id: str | None, clock: Clock
) -> PlanLock:
    """A plan's lock, taken before preflight: a second live run of the plan is refused here."""
    lock = PlanLock(store, command=command, plan=plan, clock=clock)
    lock.acquire(run_id)
    return lock


def live_holder(
    store: Store, command: str, plan: Mapping[str, Any], clock: Clock
) -> dict[str, Any] | None:
    """Who holds a plan's lock now (for ``status``); None when nobody does.
    LedgerDamagedError when the lock file is damaged."""
    lock = PlanLock(store, command=command, plan=plan, clock=clock)
    holders = [lock._holder(g) for g in lock._generations()]
    return next((h for h in holders if h and alive(h, clock)), None)


def alive(holder: Mapping[str, Any], clock: Clock) -> bool:
    """A lock is live when its holder runs on this host, or has beaten its heart lately on
    another."""
    try:
        pid, at = int(holder.get("pid", 0)), int(holder.get("at", 0))
    except (TypeError, ValueError):
        return False  # no readable holder: nothing to wait for
    if holder.get("host") == socket.gethostname():
        if pid == os.getpid():
            return holder.get("token") in _HELD
        return _pid_alive(pid)
    return (clock.now_ms() - at) / 1000 < STALE_LOCK_SECONDS


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
