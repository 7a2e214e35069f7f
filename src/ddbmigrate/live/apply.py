"""Stream records -> BatchWriteItem batches on the destination, in shard order.

INSERT and MODIFY become a put of the record's full NewImage, REMOVE a delete of its Keys,
both exactly as the stream sent them (wire form: no type is converted). A batch never holds
two records of one key (DynamoDB refuses that, and would not say which write wins): the
batch is flushed before a repeated key, so each key's records reach the table in stream
order. Batches go through import's writer (``importer.send_requests``): the same capacity
budget, retry policy and stall guard.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.importer import MAX_BATCH_ITEMS, ImportOptions, send_requests
from ddbmigrate.items import key_bytes
from ddbmigrate.live.ports import ChangeRecord
from ddbmigrate.ports import Budget, Clock, TableWriter, WriteRequest

PUT_EVENTS = frozenset({"INSERT", "MODIFY"})
REMOVE_EVENT = "REMOVE"


def write_request(record: ChangeRecord) -> WriteRequest:
    """The write that makes the destination's item what the record says it became."""
    if record.event == REMOVE_EVENT:
        return {"DeleteRequest": {"Key": record.keys}}
    if record.event not in PUT_EVENTS:
        raise CorruptDataError(f"stream record {record.sequence} has event {record.event!r}")
    if record.new_image is None:
        raise CorruptDataError(
            f"stream record {record.sequence} ({record.event}) has no NewImage",
            hint="the stream must record new images (NEW_IMAGE or NEW_AND_OLD_IMAGES)",
        )
    return {"PutRequest": {"Item": record.new_image}}


@dataclass(slots=True)
class Batch:
    """Records to write in one BatchWriteItem: at most 25, no key twice.

    Never over BatchWriteItem's 16 MB: a stream's images are items the source accepted, at
    most 400 KB each, so 25 are 10 MB at most. Measuring each item (7 µs of a replay's 63 µs
    per record) could never end a batch (docs/adr/0049)."""

    records: list[ChangeRecord] = field(default_factory=list)
    requests: list[WriteRequest] = field(default_factory=list)
    keys: set[bytes] = field(default_factory=set)

    def fits(self, key: bytes) -> bool:
        if len(self.records) >= MAX_BATCH_ITEMS:
            return False
        return key not in self.keys  # a repeated key waits: its records stay in order

    def add(self, record: ChangeRecord, request: WriteRequest, key: bytes) -> None:
        self.records.append(record)
        self.requests.append(request)
        self.keys.add(key)


def batches(records: list[ChangeRecord]) -> Iterator[Batch]:
    """``records`` (in shard order) cut into batches, in the same order."""
    batch = Batch()
    for record in records:
        request = write_request(record)
        key = key_bytes(record.keys)
        if not batch.fits(key):
            yield batch
            batch = Batch()
        batch.add(record, request, key)
    if batch.records:
        yield batch


@dataclass(frozen=True, slots=True)
class Applier:
    """Writes batches to the destination through import's writer."""

    writer: TableWriter
    budget: Budget
    options: ImportOptions
    clock: Clock

    def write(self, batch: Batch, rng: random.Random) -> None:
        """Return once DynamoDB applied the whole batch (unprocessed items re-sent)."""
        send_requests(
            self.writer,
            batch.requests,
            budget=self.budget,
            options=self.options,
            clock=self.clock,
            rng=rng,
        )
