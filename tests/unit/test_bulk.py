"""The bulk import core (ddbmigrate.bulk, ddbmigrate.bulk_report) without AWS: the request
against botocore's model, the up-front refusals, progress, and the error report."""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from typing import Any

import botocore.session
import orjson
import pytest
from botocore.validate import ParamValidator

from ddbmigrate import bulk
from ddbmigrate.bulk import (
    CANCEL_WAIT,
    MIN_MAX_WRU,
    BulkImport,
    BulkInput,
    BulkOptions,
    BulkProgress,
    BulkRefusedError,
    BulkResult,
    ObserverProgress,
    build_request,
    bulk_input,
    check_result,
    check_table,
    client_token,
    report_folder,
    run,
)
from ddbmigrate.bulk_report import read_report, record_report
from ddbmigrate.errors import ConfigError, FatalError
from ddbmigrate.formats.detect import SourceFile, SourcePlan
from ddbmigrate.model import StoreURL
from ddbmigrate.runs import Reject
from ddbmigrate.testing import FakeClock, MemoryStore

MODEL = botocore.session.get_session().get_service_model("dynamodb")
START = MODEL.operation_model("StartBulkPutItems").input_shape
URL = StoreURL("s3", "staging-bucket", "migrations")
FOLDER = "AWSDynamoDB/01767225600000-abcd1234"


def plan(*names: str, fmt: str = "native-json", incremental: bool = False) -> SourcePlan:
    files = [SourceFile(f"{FOLDER}/data/{n}") for n in names]
    return SourcePlan("native export", fmt, FOLDER, files, incremental=incremental)  # type: ignore[arg-type]


def store_with(*names: str) -> MemoryStore:
    store = MemoryStore()
    for name in names:
        store.put(f"{FOLDER}/data/{name}", b"x")
    return store


def test_the_input_selects_the_data_files_of_the_export() -> None:
    source = bulk_input(
        plan("a.json.gz", "b.json.gz"),
        store_with("a.json.gz", "b.json.gz"),
        URL,
        bucket_owner="222222222222",
    )

    assert source == BulkInput(
        bucket="staging-bucket",
        key_prefix=f"migrations/{FOLDER}/data/",
        format="DYNAMODB_JSON",
        compression="GZIP",
        objects=2,
        bucket_owner="222222222222",
    )


def test_the_request_fits_the_botocore_model() -> None:
    source = bulk_input(plan("a.ion.zst"), store_with("a.ion.zst"), URL, bucket_owner=None)
    source = BulkInput(source.bucket, source.key_prefix, "ION", source.compression, 1)
    options = BulkOptions(max_wru=4096, tier="ACCELERATED", kms_key="alias/staging")
    request = build_request(
        table="orders", source=source, run_id="r1", unit="orders", url=URL, options=options
    )

    report = ParamValidator().validate(request, START)
    assert not report.has_errors(), report.generate_report()
    assert request["InputS3Configuration"]["InputCompressionType"] == "ZSTD"
    assert request["OutputS3Configuration"] == {
        "S3Bucket": "staging-bucket",
        "S3KeyPrefix": f"migrations/{report_folder('r1', 'orders')}",
        "OutputType": ["ERROR"],
        "S3SseAlgorithm": "KMS",
        "S3SseKmsKeyId": "alias/staging",
    }


def test_the_client_token_is_stable_per_run_and_unit() -> None:
    pattern = START.members["ClientToken"].metadata["pattern"]
    token = client_token("20260101T000000Z-a", "orders")

    assert token == client_token("20260101T000000Z-a", "orders")
    assert token != client_token("20260101T000000Z-a", "customers")
    assert token != client_token("20260101T000000Z-b", "orders")
    assert re.search(pattern, token)


def test_the_write_rate_floor_is_the_models() -> None:
    assert START.members["MaxWriteRequestUnits"].metadata["min"] == MIN_MAX_WRU
    with pytest.raises(ConfigError, match="below 1024"):
        BulkOptions(max_wru=1000)


@pytest.mark.parametrize(
    ("source", "store", "reason"),
    [
        (plan("a.json.gz", fmt="datapipeline"), store_with("a.json.gz"), r"\(datapipeline\)"),
        (plan("a.json.gz", incremental=True), store_with("a.json.gz"), "incremental"),
        (plan("a.json.gz"), store_with("a.json.gz", "stray.json.gz"), "1 object"),
        (plan("a.json.gz", "b.json"), store_with("a.json.gz", "b.json"), "mix compressions"),
        (plan("a.json.gz", "b.json.gz"), store_with("a.json.gz"), "not all below"),
    ],
)
def test_what_the_api_cannot_read_is_refused(
    source: SourcePlan, store: MemoryStore, reason: str
) -> None:
    with pytest.raises(BulkRefusedError, match=reason) as caught:
        bulk_input(source, store, URL, bucket_owner=None)
    assert caught.value.hint is not None
    assert "--import-method batch" in caught.value.hint


def test_more_objects_than_the_quota_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "MAX_OBJECTS", 1)
    with pytest.raises(BulkRefusedError, match="at most 1 objects"):
        bulk_input(
            plan("a.json.gz", "b.json.gz"),
            store_with("a.json.gz", "b.json.gz"),
            URL,
            bucket_owner=None,
        )


def test_a_local_staging_folder_is_refused() -> None:
    local = StoreURL("file", "", "/data/staging")
    with pytest.raises(BulkRefusedError, match="reads from S3"):
        bulk_input(plan("a.json.gz"), store_with("a.json.gz"), local, bucket_owner=None)


ACTIVE: dict[str, Any] = {"TableName": "orders", "TableStatus": "ACTIVE"}


@pytest.mark.parametrize(
    ("description", "reason"),
    [
        ({**ACTIVE, "Replicas": [{"RegionName": "eu-west-1"}]}, "global table"),
        ({**ACTIVE, "TableStatus": "CREATING"}, "CREATING, not ACTIVE"),
        (
            {
                **ACTIVE,
                "GlobalSecondaryIndexes": [{"IndexName": "by-day", "IndexStatus": "CREATING"}],
            },
            "building index",
        ),
    ],
)
def test_tables_aws_would_refuse_are_refused_up_front(
    description: dict[str, Any], reason: str
) -> None:
    with pytest.raises(BulkRefusedError, match=reason):
        check_table(description)


def test_an_active_table_or_one_updating_is_accepted() -> None:
    index = {"IndexName": "by-day", "IndexStatus": "ACTIVE"}
    for status in ("ACTIVE", "UPDATING"):
        description = {**ACTIVE, "TableStatus": status, "GlobalSecondaryIndexes": [index]}
        assert check_table(description) is None


def test_progress_estimates_the_time_left_from_the_bytes_read() -> None:
    description = {
        "BulkOperationArn": "arn",
        "BulkOperationStatus": "IN_PROGRESS",
        "ProcessedItemCount": 500,
        "ProcessedInputBytes": 250,
        "TotalInputBytes": 1000,
    }
    progress = BulkProgress.of(description, elapsed=60.0)

    assert (progress.items, progress.bytes_read, progress.bytes_total) == (500, 250, 1000)
    assert progress.eta_seconds == 180.0
    assert (
        BulkProgress.of({**description, "TotalInputBytes": None}, elapsed=60.0).eta_seconds is None
    )


class Recorder:
    def __init__(self) -> None:
        self.counts: list[int] = []
        self.messages: list[str] = []

    def step_started(self, step: str, *, total: int | None) -> None: ...

    def advanced(self, step: str, items: int) -> None:
        self.counts.append(items)

    def message(self, text: str) -> None:
        self.messages.append(text)

    def step_finished(self, step: str, *, summary: str) -> None: ...


def test_progress_reaches_the_observer_as_item_deltas() -> None:
    observer = Recorder()
    forward = ObserverProgress(observer)
    for items, status in ((0, "IN_PROGRESS"), (40, "IN_PROGRESS"), (100, "COMPLETED")):
        forward(BulkProgress("arn:op", status, items, 0, 0, None, None))

    assert observer.counts == [40, 60]
    assert observer.messages == [
        "bulk operation arn:op: IN_PROGRESS",
        "bulk operation arn:op: COMPLETED",
    ]


class Sink:
    def __init__(self) -> None:
        self.rejects: list[Reject] = []

    def record(self, reject: Reject) -> None:
        self.rejects.append(reject)


def result(status: str, failed: int) -> BulkResult:
    return BulkResult("arn:op", status, 10, failed, {"BulkOperationStatus": status})


def test_a_gzip_report_with_other_field_names_is_read() -> None:
    store = MemoryStore()
    lines = [
        {
            "errorCode": "ValidationException",
            "errorMessage": "Type mismatch",
            "objectKey": "data/a.json.gz",
            "lineNumber": 7,
            "item": {"id": {"N": "1"}},
        },
        {"Message": "Item size has exceeded the maximum allowed size"},
    ]
    body = gzip.compress(b"\n".join(orjson.dumps(line) for line in lines))
    store.put(f"{report_folder('r1', 'orders')}part-0001.json.gz", body)

    rejects = read_report(store, run_id="r1", unit="orders")

    assert rejects[0] == Reject(
        "data/a.json.gz", 7, "ValidationException: Type mismatch", {"id": {"N": "1"}}
    )
    assert rejects[1].reason == "Item size has exceeded the maximum allowed size"
    assert rejects[1].line == 2


def test_failures_the_report_does_not_name_are_still_counted() -> None:
    sink = Sink()

    counted = record_report(
        MemoryStore(), sink, run_id="r1", unit="orders", result=result("COMPLETED_WITH_ERRORS", 3)
    )

    assert counted == 1
    assert sink.rejects[0].file == "arn:op"
    assert "3 item(s) failed" in sink.rejects[0].reason


def test_a_completed_operation_without_a_report_has_no_rejects() -> None:
    sink = Sink()
    assert (
        record_report(
            MemoryStore(), sink, run_id="r1", unit="orders", result=result("COMPLETED", 0)
        )
        == 0
    )
    assert sink.rejects == []


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED", "IN_PROGRESS", "None", "PAUSED"])
def test_only_completed_statuses_pass_the_check(status: str) -> None:
    ended = f"arn:op (FAILED|was cancelled|ended with status {status})"
    with pytest.raises(FatalError, match=ended):
        check_result(result(status, 0))


@pytest.mark.parametrize("status", ["COMPLETED", "COMPLETED_WITH_ERRORS"])
def test_completed_statuses_are_left_to_the_report(status: str) -> None:
    """Failed items of a completed operation are the report's to count, not an error here."""
    assert check_result(result(status, 1)) is None


class SlowCancelPort:
    """A bulk port whose cancelled operation stays CANCELLING."""

    def __init__(self) -> None:
        self.cancelled = False

    def start(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"BulkOperationArn": "arn:op", "BulkOperationStatus": "IN_PROGRESS"}

    def describe(self, arn: str) -> dict[str, Any]:
        status = "CANCELLING" if self.cancelled else "IN_PROGRESS"
        return {"BulkOperationArn": arn, "BulkOperationStatus": status}

    def cancel(self, arn: str) -> str:
        self.cancelled = True
        return "CANCELLING"


def test_ctrl_c_waits_for_a_slow_cancel_minutes_not_the_imports_timeout() -> None:
    """The cancel that AWS takes hours over goes on there; the interrupt ends the command."""
    port, clock, store = SlowCancelPort(), FakeClock(), MemoryStore()

    def interrupt(_progress: BulkProgress) -> None:
        if not port.cancelled:
            raise KeyboardInterrupt

    job = BulkImport(
        port=port,
        store=store,
        request={"ClientToken": client_token("r1", "orders")},
        run_id="r1",
        unit="orders",
        clock=clock,
        progress=interrupt,
    )
    with pytest.raises(KeyboardInterrupt):
        run(job, timeout=48 * 3600.0)
    assert port.cancelled
    assert CANCEL_WAIT <= clock.monotonic() < CANCEL_WAIT + 60
    assert (job.recorded() or {}).get("arn") == "arn:op"  # the same command follows it


class EndedPort:
    """A bulk port whose operation stays IN_PROGRESS and refuses to be cancelled."""

    def __init__(self) -> None:
        self.cancels = 0

    def start(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return {"BulkOperationArn": "arn:op", "BulkOperationStatus": "IN_PROGRESS"}

    def describe(self, arn: str) -> dict[str, Any]:
        return {"BulkOperationArn": arn, "BulkOperationStatus": "IN_PROGRESS"}

    def cancel(self, arn: str) -> str:
        self.cancels += 1
        raise FatalError("CancelBulkOperation: ValidationException: the operation has ended")


def test_ctrl_c_stays_the_error_when_the_cancel_is_refused() -> None:
    port = EndedPort()

    def interrupt(_progress: BulkProgress) -> None:
        raise KeyboardInterrupt

    job = BulkImport(
        port=port,
        store=MemoryStore(),
        request={"ClientToken": client_token("r1", "orders")},
        run_id="r1",
        unit="orders",
        clock=FakeClock(),
        progress=interrupt,
    )
    with pytest.raises(KeyboardInterrupt):
        run(job, timeout=60.0)
    assert port.cancels == 1
