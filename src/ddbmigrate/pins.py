"""What a run resolved, pinned in its ledger so that a resume works on the same things.

An import of "the newest export under a prefix" resolves to one export folder; a resume must
import the rest of *that* export, not whatever is newest by then. The first run records the
folder, a digest of its manifests (and ``ddbmigrate-table.json``), and the size and ETag (or
size and modification time) of every data file; a resume that finds any of it different
refuses, naming what changed, before anything is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ddbmigrate.checkpoint import Ledger
from ddbmigrate.errors import ResumeMismatchError
from ddbmigrate.formats import datapipeline, native
from ddbmigrate.formats.detect import SourcePlan
from ddbmigrate.formats.tablefile import TABLE_FILE
from ddbmigrate.ports import Observer, Store

SOURCE_PIN = "source"
"""The run ledger's record of the resolved import source (a :class:`SourcePin`)."""
MANIFESTS = (
    native.MANIFEST_SUMMARY,
    native.MANIFEST_FILES,
    "manifest-summary.md5",
    "manifest-files.md5",
    TABLE_FILE,
    datapipeline.MANIFEST,
)
"""Files of an export folder whose bytes the pin's digest covers, when present."""
SHOWN = 3
"""Files named in a refusal; the rest are counted."""


@dataclass(frozen=True, slots=True)
class SourcePin:
    """One resolved import source: where it is and what it held."""

    folder: str
    """The export or backup folder, relative to the store root ('' for the root)."""
    manifests: str
    """sha256 of the manifests' bytes (see ``MANIFESTS``), in a fixed order."""
    files: dict[str, str]
    """Data file key -> its fingerprint (``Store.fingerprints``); '' when it was absent."""

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "manifests": self.manifests, "files": self.files}

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> SourcePin:
        return cls(str(body["folder"]), str(body["manifests"]), dict(body["files"]))


def resolve(store: Store, plan: SourcePlan) -> SourcePin:
    """What ``plan`` points at now, in the store."""
    digest = hashlib.sha256()
    for name in MANIFESTS:
        key = f"{plan.folder}/{name}" if plan.folder else name
        if store.exists(key):
            data = store.get(key)
            digest.update(f"{name}\0{len(data)}\0".encode() + data)
    prefix = f"{plan.folder}/" if plan.folder else _common_prefix([f.key for f in plan.files])
    found = store.fingerprints(prefix)
    files = {f.key: found.get(f.key, "") for f in plan.files}
    return SourcePin(plan.folder, digest.hexdigest(), files)


def _common_prefix(keys: list[str]) -> str:
    """The folder the keys share ('' when none): listed once for all their fingerprints."""
    if len(keys) == 1:
        return keys[0]
    folders = {k.rpartition("/")[0] for k in keys}
    return f"{folders.pop()}/" if len(folders) == 1 and "" not in folders else ""


def pin_source(ledger: Ledger, store: Store, plan: SourcePlan, observer: Observer) -> None:
    """Record what ``plan`` resolved to in a new run; refuse a resume that finds it changed."""
    now = resolve(store, plan)
    recorded = ledger.run.get(SOURCE_PIN)
    if not recorded:
        ledger.set(**{SOURCE_PIN: now.to_json()})
        return
    check(SourcePin.from_json(recorded), now, root=store.root, run_id=ledger.run_id)
    observer.message(f"import source unchanged since run {ledger.run_id} began")


def check(recorded: SourcePin, now: SourcePin, *, root: str, run_id: str) -> None:
    """Refuse when ``now`` differs from ``recorded``: the message names what changed."""
    where = f"{root.rstrip('/')}/{recorded.folder}".rstrip("/")
    if recorded.folder != now.folder:
        newest = f"{root.rstrip('/')}/{now.folder}".rstrip("/")
        raise ResumeMismatchError(
            f"run {run_id!r} imports {where}, but SOURCE now resolves to {newest} "
            "(a newer export appeared); resuming would mix the two",
            hint=f"to finish the import this run began, run the import again with SOURCE "
            f"{where}/ and --into-existing (a new run; items already written are written "
            "again, unchanged)",
        )
    hint = (
        f"the export at {where} was changed after run {run_id!r} began; restore it, or "
        "delete the destination table and import again"
    )
    if recorded.manifests != now.manifests:
        raise ResumeMismatchError(
            f"run {run_id!r}: the manifests of {where} changed since it began", hint=hint
        )
    changed = _changed_files(recorded.files, now.files)
    if changed:
        shown = ", ".join(changed[:SHOWN])
        more = f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
        raise ResumeMismatchError(
            f"run {run_id!r}: data files of {where} changed since it began: {shown}{more}",
            hint=hint,
        )


def _changed_files(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """Keys added, removed, or whose fingerprint differs, each with what happened."""
    found: list[str] = []
    for key in sorted(set(recorded) | set(now)):
        was, new = recorded.get(key), now.get(key)
        if was == new:
            continue
        if was is None:
            found.append(f"{key} (added)")
        elif not new:  # gone from the listing, or from the plan
            found.append(f"{key} (removed)")
        else:
            found.append(f"{key} (rewritten)")
    return found
