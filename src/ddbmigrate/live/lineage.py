"""Which shards may be read now: parents before children (``ParentShardId``).

A shard splits (or closes on its own) and its keys' later records go to the children.
Reading a child only once its parent is read to the end keeps every key's records in the
order they were made. A parent that is no longer listed has aged out of the stream (its
records are older than 24 hours): harmless for a shard the run found at its start (the
parent's changes predate the start point), data lost for any other (docs/adr/0031).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ddbmigrate.errors import StreamTrimmedError
from ddbmigrate.live.checkpoints import ShardMark
from ddbmigrate.live.ports import Shard

_HINT = (
    "start the live migration again (a new run: a new stream, then a new copy); with "
    "point-in-time recovery on for the source and an s3:// staging, the replay bridges such "
    "a gap itself with incremental exports (README: Live migration)"
)


def ready_shards(
    shards: list[Shard], marks: Mapping[str, ShardMark], at_start: Collection[str]
) -> list[Shard]:
    """The listed shards not read to their end whose parent is; StreamTrimmedError when a
    parent the run needed is gone."""
    listed = {s.shard_id for s in shards}
    ready: list[Shard] = []
    for shard in shards:
        mark = marks.get(shard.shard_id)
        if mark is not None and mark.finished:
            continue
        if _parent_done(shard, listed, marks, at_start):
            ready.append(shard)
    return ready


def _parent_done(
    shard: Shard, listed: set[str], marks: Mapping[str, ShardMark], at_start: Collection[str]
) -> bool:
    parent = shard.parent_id
    if parent is None:
        return True
    mark = marks.get(parent)
    if mark is not None and mark.finished:
        return True
    if parent in listed:
        return False  # read the parent to its end first
    if mark is None and shard.shard_id in at_start:
        return True  # aged out before the run began: its changes predate the start point
    raise StreamTrimmedError(
        f"shard {parent}, the parent of shard {shard.shard_id}, left the stream before the "
        "replay read it to its end: its unread changes are lost and the replay cannot make "
        "an exact copy",
        hint=_HINT,
    )


def trimmed_error(shard_id: str, after: str | None) -> StreamTrimmedError:
    """The error for records of a shard trimmed before the replay applied them."""
    where = f"after sequence number {after} (the last applied)" if after else "at its start"
    return StreamTrimmedError(
        f"records of shard {shard_id} {where} were trimmed from the stream (older than its "
        "24-hour retention) before the replay applied them: the replay cannot make an exact "
        "copy",
        hint=_HINT,
    )
