"""The ``bulk`` import method: a staged export loaded by DynamoDB's StartBulkPutItems.

StartBulkPutItems reads every object below one S3 key prefix (DYNAMODB_JSON or ION, one
compression for all) and writes the items into an *existing* table at up to
``MaxWriteRequestUnits``; items it cannot write are reported in S3. This module is the core
of that path and talks to AWS only through :class:`BulkPort` (``ddbmigrate.aws.bulk``):

- :func:`bulk_input` turns a detected export (our native layout or AWS's) into the input
  location, refusing what the API cannot read; :func:`check_table` refuses tables AWS
  would refuse (global tables, a GSI being built);
- :func:`build_request` writes the request, with a ClientToken derived from the run id and
  the unit, so a resumed run re-attaches to its operation instead of starting a second;
- :class:`BulkImport` starts (or re-attaches), polls with progress, cancels, and reads the
  error report back into the run's rejects (``ddbmigrate.bulk_report``).

What was assumed about the API beyond the botocore model: docs/adr/0034-bulk-put-items.md.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from ddbmigrate.errors import ConfigError, DdbMigrateError, FatalError
from ddbmigrate.formats.compression import suffix_for
from ddbmigrate.formats.detect import SourcePlan
from ddbmigrate.formats.native import DATA_DIR
from ddbmigrate.model import StoreURL
from ddbmigrate.ports import Clock, Observer, Store
from ddbmigrate.runs import RUNS_DIR

BulkTier = Literal["STANDARD", "ACCELERATED"]
InputFormat = Literal["DYNAMODB_JSON", "ION"]
InputCompression = Literal["GZIP", "ZSTD", "NONE"]

MIN_MAX_WRU = 1024
"""``BulkOperationMaxWriteRequestUnits`` has ``min: 1024`` in the botocore model."""
MAX_OBJECTS = 50_000
"""Input objects per operation (developer guide, "Best practices for bulk put items"; the
model's documentation names no number)."""
POLL_SECONDS = 15.0
PENDING = frozenset({"IN_PROGRESS", "CANCELLING"})
RESTARTED = frozenset({"FAILED", "CANCELLED"})
"""Ended operations a re-run starts again (COMPLETED_WITH_ERRORS is settled by its report)."""
FINISHED = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS"})
"""The ends whose items are settled by the error report; any other end is an error."""
BATCH_HINT = "use --import-method batch, which writes with BatchWriteItem and has no such limit"
_FORMATS: dict[str, InputFormat] = {"native-json": "DYNAMODB_JSON", "native-ion": "ION"}
_COMPRESSIONS: dict[str, InputCompression] = {
    suffix_for("gzip"): "GZIP",
    suffix_for("zstd"): "ZSTD",
}


class BulkRefusedError(FatalError):
    """StartBulkPutItems cannot load this export into this table; ``batch`` can."""


class BulkFailedError(FatalError):
    """The bulk operation ended FAILED (some items may have been written)."""


class BulkCancelledError(FatalError):
    """The bulk operation was cancelled (items written before the cancel stay)."""


class BulkPort(Protocol):
    """DynamoDB's bulk operations of one account and region (``ddbmigrate.aws.bulk``).

    Descriptions are ``BulkOperationDescription`` with timestamps as ISO text."""

    def start(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """StartBulkPutItems; the same ClientToken and parameters return the same operation."""
        ...

    def describe(self, arn: str) -> dict[str, Any]:
        """DescribeBulkOperation."""
        ...

    def cancel(self, arn: str) -> str:
        """CancelBulkOperation; the status AWS answers (CANCELLING)."""
        ...


# --- input and refusals -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkInput:
    """``InputS3Configuration``: where the data files are and how they are written."""

    bucket: str
    key_prefix: str
    """Selects exactly the export's data files (``.../AWSDynamoDB/<id>/data/``)."""
    format: InputFormat
    compression: InputCompression
    objects: int
    bucket_owner: str | None = None

    def request(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "S3Bucket": self.bucket,
            "S3KeyPrefix": self.key_prefix,
            "InputFormat": self.format,
            "InputCompressionType": self.compression,
        }
        if self.bucket_owner:
            body["S3BucketOwner"] = self.bucket_owner
        return body


def bulk_input(
    plan: SourcePlan, store: Store, url: StoreURL, *, bucket_owner: str | None
) -> BulkInput:
    """The input of an export detected in ``store`` (at ``url``), or BulkRefusedError."""
    if url.scheme != "s3":
        raise BulkRefusedError(
            f"StartBulkPutItems reads from S3 and the export is in {url.prefix}", hint=BATCH_HINT
        )
    fmt = _input_format(plan)
    folder = f"{plan.folder}/{DATA_DIR}/" if plan.folder else f"{DATA_DIR}/"
    _check_data_folder(plan, store, folder)
    prefix = f"{url.prefix}/{folder}" if url.prefix else folder
    compression = _compression(plan)
    return BulkInput(url.bucket, prefix, fmt, compression, len(plan.files), bucket_owner)


def _input_format(plan: SourcePlan) -> InputFormat:
    fmt = _FORMATS.get(plan.format)
    if fmt is None or plan.incremental:
        kind = f"incremental {plan.kind}" if plan.incremental else plan.kind
        raise BulkRefusedError(
            f"StartBulkPutItems reads full native exports (DYNAMODB_JSON or ION), not a "
            f"{kind} ({plan.format})",
            hint=BATCH_HINT,
        )
    return fmt


def _check_data_folder(plan: SourcePlan, store: Store, folder: str) -> None:
    """The API reads every object below the prefix: it must hold the export's files, all."""
    listed = set(store.list(folder))
    wanted = {f.key for f in plan.files}
    if not wanted <= listed or not wanted:
        raise BulkRefusedError(
            f"the export's data files are not all below {folder} in {store.root}",
            hint=BATCH_HINT,
        )
    stray = sorted(listed - wanted)
    if stray:
        raise BulkRefusedError(
            f"{len(stray)} object(s) below {folder} that the export's manifest does not list "
            f"(first: {stray[0]}) would be loaded too",
            hint=f"move them out of that folder, or {BATCH_HINT}",
        )
    if len(wanted) > MAX_OBJECTS:
        raise BulkRefusedError(
            f"the export has {len(wanted)} data files and StartBulkPutItems reads at most "
            f"{MAX_OBJECTS} objects per operation",
            hint=BATCH_HINT,
        )


def _compression(plan: SourcePlan) -> InputCompression:
    kinds = {_file_compression(f.key) for f in plan.files}
    if len(kinds) != 1:
        raise BulkRefusedError(
            f"the export's data files mix compressions ({', '.join(sorted(kinds))}); "
            "StartBulkPutItems takes one for all",
            hint=BATCH_HINT,
        )
    return kinds.pop()


def _file_compression(key: str) -> InputCompression:
    for suffix, kind in _COMPRESSIONS.items():
        if key.endswith(suffix):
            return kind
    return "NONE"


def check_table(description: Mapping[str, Any]) -> None:
    """Refuse up front what StartBulkPutItems refuses: a global table, a table that is not
    ACTIVE (or UPDATING), a secondary index being created."""
    name = description.get("TableName")
    if description.get("Replicas"):
        raise BulkRefusedError(
            f"table {name!r} is a global table (it has replicas), and StartBulkPutItems "
            "does not load global tables",
            hint=BATCH_HINT,
        )
    if description.get("TableStatus") not in ("ACTIVE", "UPDATING"):
        raise BulkRefusedError(
            f"table {name!r} is {description.get('TableStatus')}, not ACTIVE",
            hint=f"wait until it is ACTIVE and run again, or {BATCH_HINT}",
        )
    building = [
        str(i.get("IndexName"))
        for i in description.get("GlobalSecondaryIndexes") or []
        if i.get("IndexStatus") == "CREATING" or i.get("Backfilling")
    ]
    if building:
        raise BulkRefusedError(
            f"table {name!r} is building index(es) {', '.join(building)}, and "
            "StartBulkPutItems cannot start meanwhile",
            hint=f"wait until they are ACTIVE and run again, or {BATCH_HINT}",
        )


# --- request ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkOptions:
    """What the user chose for the operation."""

    max_wru: int | None = None
    """``MaxWriteRequestUnits``: at least 1,024; None lets AWS decide."""
    tier: BulkTier = "STANDARD"
    sse: Literal["AES256", "KMS"] | None = None
    """Encryption of the error report objects; None: the bucket's default."""
    kms_key: str | None = None

    def __post_init__(self) -> None:
        if self.max_wru is not None and self.max_wru < MIN_MAX_WRU:
            raise ConfigError(
                f"the bulk write rate {self.max_wru} is below {MIN_MAX_WRU} write request "
                "units per second, the least StartBulkPutItems accepts"
            )
        if self.tier not in ("STANDARD", "ACCELERATED"):
            raise ConfigError(f"bulk tier {self.tier!r} is not STANDARD or ACCELERATED")


def client_token(run_id: str, unit: str) -> str:
    """Stable for one unit of one run: a resume sends the same token (AWS keeps it 8 h)."""
    digest = hashlib.sha256(f"{run_id}/{unit}".encode()).hexdigest()[:40]
    return f"ddbmigrate-{digest}"


def report_folder(run_id: str, unit: str) -> str:
    """Where the operation writes its error report, relative to the staging store's root."""
    return f"{RUNS_DIR}/{run_id}/bulk/{_unit_name(unit)}/report/"


def build_request(
    *, table: str, source: BulkInput, run_id: str, unit: str, url: StoreURL, options: BulkOptions
) -> dict[str, Any]:
    """The StartBulkPutItems request (the error report goes to the run's folder)."""
    request: dict[str, Any] = {
        "ClientToken": client_token(run_id, unit),
        "TableName": table,
        "InputS3Configuration": source.request(),
        "OutputS3Configuration": _output(source, url, report_folder(run_id, unit), options),
        "PerformanceTier": options.tier,
    }
    if options.max_wru is not None:
        request["MaxWriteRequestUnits"] = options.max_wru
    return request


def _output(source: BulkInput, url: StoreURL, folder: str, options: BulkOptions) -> dict[str, Any]:
    prefix = f"{url.prefix}/{folder}" if url.prefix else folder
    body: dict[str, Any] = {"S3Bucket": url.bucket, "S3KeyPrefix": prefix, "OutputType": ["ERROR"]}
    if source.bucket_owner:
        body["S3BucketOwner"] = source.bucket_owner
    if options.sse:
        body["S3SseAlgorithm"] = options.sse
    if options.kms_key:
        body["S3SseAlgorithm"] = "KMS"
        body["S3SseKmsKeyId"] = options.kms_key
    return body


def operation_record(store: Store, run_id: str, unit: str) -> dict[str, Any] | None:
    """What the run recorded of the unit's operation (ARN, token, status, attempt), if any."""
    key = _record_key(run_id, unit)
    if not store.exists(key):
        return None
    body = orjson.loads(store.get(key))
    return body if isinstance(body, dict) else None


def _record_key(run_id: str, unit: str) -> str:
    return f"{RUNS_DIR}/{run_id}/bulk/{_unit_name(unit)}.json"


def _unit_name(unit: str) -> str:
    return hashlib.sha1(unit.encode(), usedforsecurity=False).hexdigest()[:16]


# --- progress ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkProgress:
    """One DescribeBulkOperation answer, as progress."""

    arn: str
    status: str
    items: int
    failed: int
    bytes_read: int
    bytes_total: int | None
    eta_seconds: float | None
    """From the bytes read so far and the time they took; None until both are known."""

    @classmethod
    def of(cls, description: Mapping[str, Any], elapsed: float) -> BulkProgress:
        read = int(description.get("ProcessedInputBytes") or 0)
        total = description.get("TotalInputBytes")
        return cls(
            arn=str(description.get("BulkOperationArn")),
            status=str(description.get("BulkOperationStatus")),
            items=int(description.get("ProcessedItemCount") or 0),
            failed=int(description.get("FailedItemCount") or 0),
            bytes_read=read,
            bytes_total=None if total is None else int(total),
            eta_seconds=_eta(read, None if total is None else int(total), elapsed),
        )


def _eta(read: int, total: int | None, elapsed: float) -> float | None:
    if total is None or read <= 0 or elapsed <= 0:
        return None
    return max(0.0, elapsed * (total - read) / read)


Progress = Callable[[BulkProgress], None]


@dataclass(slots=True)
class ObserverProgress:
    """Hands bulk progress to the run's Observer: the items as ``advanced`` deltas."""

    observer: Observer
    step: str = "import"
    _items: int = 0
    _status: str = ""

    def __call__(self, progress: BulkProgress) -> None:
        if progress.items > self._items:
            self.observer.advanced(self.step, progress.items - self._items)
            self._items = progress.items
        if progress.status != self._status:
            self._status = progress.status
            self.observer.message(f"bulk operation {progress.arn}: {progress.status}")


# --- the operation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BulkResult:
    """How the operation ended."""

    arn: str
    status: str
    items: int
    failed: int
    description: dict[str, Any] = field(repr=False)


@dataclass(slots=True, kw_only=True)
class BulkImport:
    """One unit's bulk operation: start or re-attach, wait, cancel.

    The operation's ARN is recorded in the run's folder (``bulk/<unit>.json``) as soon as it
    is known, so a resumed run describes the operation it started, even past the 8 hours
    AWS keeps a ClientToken."""

    port: BulkPort
    store: Store
    request: Mapping[str, Any]
    run_id: str
    unit: str
    clock: Clock
    progress: Progress = field(default=lambda _progress: None)
    poll: float = POLL_SECONDS

    @property
    def record_key(self) -> str:
        return _record_key(self.run_id, self.unit)

    def recorded(self) -> dict[str, Any] | None:
        return operation_record(self.store, self.run_id, self.unit)

    def start(self) -> str:
        """The operation's ARN: the recorded one, else StartBulkPutItems with the token.

        A recorded operation that FAILED or was CANCELLED is started anew, under the token
        of the next attempt (the same token would return the same ended operation)."""
        record = self.recorded() or {}
        attempt = int(record.get("attempt", 0))
        if record.get("arn") and record.get("status") not in RESTARTED:
            return str(record["arn"])
        if record.get("arn"):
            attempt += 1
        request = self.request_of(attempt)
        description = self.port.start(request)
        arn = str(description["BulkOperationArn"])
        self._record(arn, str(description.get("BulkOperationStatus")), attempt)
        return arn

    def request_of(self, attempt: int) -> dict[str, Any]:
        """The request of the ``attempt``-th operation of this unit (0: the first)."""
        if attempt == 0:
            return dict(self.request)
        return {**self.request, "ClientToken": client_token(self.run_id, f"{self.unit}#{attempt}")}

    def wait(self, arn: str, *, timeout: float) -> BulkResult:
        """Poll until the operation ends; progress after every answer."""
        started = self.clock.monotonic()
        while True:
            description = self.port.describe(arn)
            elapsed = self.clock.monotonic() - started
            self.progress(BulkProgress.of(description, elapsed))
            status = str(description.get("BulkOperationStatus"))
            if status not in PENDING:
                self._record(arn, status)
                return _result(arn, description)
            if elapsed >= timeout:
                raise FatalError(
                    f"bulk operation {arn} is still {status} after {timeout:.0f} s",
                    hint="it keeps running in AWS; run the same command again to wait for it",
                )
            self.clock.sleep(self.poll)

    def cancel(self, arn: str, *, timeout: float) -> BulkResult:
        """CancelBulkOperation, then wait until it ends (CANCELLED, or what it reached)."""
        self.port.cancel(arn)
        return self.wait(arn, timeout=timeout)

    def _record(self, arn: str, status: str, attempt: int | None = None) -> None:
        if attempt is None:
            attempt = int((self.recorded() or {}).get("attempt", 0))
        token = self.request_of(attempt)["ClientToken"]
        body = {"arn": arn, "token": token, "status": status, "attempt": attempt}
        self.store.put(self.record_key, orjson.dumps(body))


def _result(arn: str, description: Mapping[str, Any]) -> BulkResult:
    return BulkResult(
        arn=arn,
        status=str(description.get("BulkOperationStatus")),
        items=int(description.get("ProcessedItemCount") or 0),
        failed=int(description.get("FailedItemCount") or 0),
        description=dict(description),
    )


CANCEL_WAIT = 300.0
"""How long an interrupted run waits for AWS to end a cancelled operation. The user asked
to stop: a cancel that takes longer goes on in AWS, and the same command again follows the
operation to its end."""


def run(job: BulkImport, *, timeout: float, cancel_on_interrupt: bool = True) -> BulkResult:
    """Start (or re-attach) and wait; on Ctrl-C cancel the operation (when asked) before
    the interrupt goes on. The result is checked by :func:`check_result`."""
    arn = job.start()
    try:
        return job.wait(arn, timeout=timeout)
    except KeyboardInterrupt:  # Interrupted (SIGINT, SIGTERM) or a plain Ctrl-C
        if cancel_on_interrupt:
            _cancel_quietly(job, arn, min(timeout, CANCEL_WAIT))
        raise


def _cancel_quietly(job: BulkImport, arn: str, timeout: float) -> None:
    # The interrupt is what the user must see; an operation that ended meanwhile refuses the
    # cancel, and its record already says how it ended.
    with contextlib.suppress(DdbMigrateError):
        job.cancel(arn, timeout=timeout)


def check_result(result: BulkResult) -> None:
    """FAILED, CANCELLED and any status the model does not list (or none) are errors;
    COMPLETED_WITH_ERRORS is settled by the report."""
    description = result.description
    reason = f"{description.get('FailureCode', '?')}: {description.get('FailureMessage', '')}"
    if result.status == "FAILED":
        raise BulkFailedError(
            f"bulk operation {result.arn} FAILED ({reason.strip()}) after {result.items} "
            "item(s); some may have been written",
            hint="fix the cause and run the same command again (items are put, so writing "
            f"them twice is harmless), or {BATCH_HINT}",
        )
    if result.status == "CANCELLED":
        raise BulkCancelledError(
            f"bulk operation {result.arn} was cancelled after {result.items} item(s)",
            hint="run the same command again to load the export anew",
        )
    if result.status not in FINISHED:  # `wait` stops at any status not PENDING
        raise FatalError(
            f"bulk operation {result.arn} ended with status {result.status}, which is not "
            f"one of {', '.join(sorted(FINISHED | RESTARTED))}",
            hint=f"see what AWS says with `aws dynamodb describe-bulk-operation "
            f"--bulk-operation-arn {result.arn}`, or {BATCH_HINT}",
        )
