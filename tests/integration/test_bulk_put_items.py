"""``--import-method bulk`` core (ddbmigrate.bulk) against the bulk stub in front of moto.

The stub (bulk_stub.py) implements StartBulkPutItems, DescribeBulkOperation,
ListBulkOperations and CancelBulkOperation as botocore's model defines them, checks every
request against that model, reads the staged objects from moto's S3 and puts the items into
moto's table. Each test starts from a real native export written by ddbmigrate's own layout
into a moto bucket, and ends by reading moto's table or the run's rejects file.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bulk_stub import BulkStub

from ddbmigrate.aws.bulk import BotoBulkPort
from ddbmigrate.aws.s3 import S3Store
from ddbmigrate.aws.session import SideSession
from ddbmigrate.bulk import (
    BulkCancelledError,
    BulkFailedError,
    BulkImport,
    BulkOptions,
    BulkProgress,
    BulkRefusedError,
    build_request,
    bulk_input,
    check_result,
    run,
)
from ddbmigrate.bulk_report import record_report
from ddbmigrate.bulk_run import BulkTarget, import_bulk
from ddbmigrate.config import Side
from ddbmigrate.errors import FatalError, Interrupted
from ddbmigrate.formats.detect import Format, detect
from ddbmigrate.formats.layout import Layout
from ddbmigrate.local.server import LOCAL_REGION, MotoServer
from ddbmigrate.model import Item, PartInfo, StoreURL
from ddbmigrate.ports import TableSchema
from ddbmigrate.runs import RejectLog, RejectsError
from ddbmigrate.testing import FakeClock

pytestmark = pytest.mark.integration

DEST_ACCOUNT = "222222222222"
RUN_ID = "20260101T000000Z-bulk"
TIMEOUT = 3600.0
GOOD: list[Item] = [{"id": {"S": f"k{n}"}, "n": {"N": str(n)}} for n in range(12)]
BAD: Item = {"id": {"N": "7"}, "why": {"S": "the key is a number, the table wants a string"}}


@pytest.fixture
def stub(moto_server: MotoServer) -> Iterator[BulkStub]:
    with BulkStub(moto_server.endpoint_url, region=LOCAL_REGION) as server:
        yield server
    assert server.invalid == []  # every request the tool sent fits botocore's model


@pytest.fixture
def dest(side_for: Callable[[str], Side]) -> SideSession:
    return SideSession(side_for(DEST_ACCOUNT))


@pytest.fixture
def port(side_for: Callable[[str], Side], stub: BulkStub) -> BotoBulkPort:
    side = dataclasses.replace(side_for(DEST_ACCOUNT), endpoint_url=stub.url)
    return BotoBulkPort(SideSession(side))


@pytest.fixture
def table(dest: SideSession) -> str:
    name = f"bulk-{uuid.uuid4().hex[:8]}"
    dest.client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    return name


@pytest.fixture
def staging(dest: SideSession) -> tuple[S3Store, StoreURL]:
    bucket = f"bulk-staging-{uuid.uuid4().hex[:8]}"
    dest.client("s3").create_bucket(Bucket=bucket)
    url = StoreURL.parse(f"s3://{bucket}/migrations")
    return S3Store(dest, url, expected_owner=DEST_ACCOUNT), url


def write_export(store: S3Store, parts: list[list[Item]], fmt: Format = "native-json") -> None:
    """An export (gzip) written the way ddbmigrate's exporter writes it."""
    schema = TableSchema(description={"TableName": "src", "TableArn": "arn:src"})
    layout = Layout.for_format(
        fmt,
        compression="gzip",
        level=None,
        export_id="01767225600000-abcd1234",
        started_iso="2026-01-01T00:00:00.000Z",
    )
    layout.start(store, schema)
    infos = []
    for number, items in enumerate(parts):
        key = layout.part_key(0, number)
        writer = layout.new_writer(store, key)
        writer.add_many(items)
        count, md5, size = writer.finish()
        infos.append(PartInfo(key=key, item_count=count, md5_b64=md5, size=size))
    times = ("2026-01-01T00:00:00.000Z", "2026-01-01T00:01:00.000Z")
    layout.finish(store, schema=schema, parts=infos, times=times)


def job(
    port: BotoBulkPort,
    staging: tuple[S3Store, StoreURL],
    table: str,
    *,
    progress: Callable[[BulkProgress], None] | None = None,
) -> BulkImport:
    store, url = staging
    source = bulk_input(detect(store), store, url, bucket_owner=DEST_ACCOUNT)
    request = build_request(
        table=table,
        source=source,
        run_id=RUN_ID,
        unit=table,
        url=url,
        options=BulkOptions(max_wru=2048, tier="STANDARD"),
    )
    return BulkImport(
        port=port,
        store=store,
        request=request,
        run_id=RUN_ID,
        unit=table,
        clock=FakeClock(),
        progress=progress or (lambda _p: None),
        poll=5.0,
    )


def table_ids(dest: SideSession, table: str) -> set[str]:
    items = dest.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {str(i["id"]["S"]) for i in items}


def test_a_bulk_load_completes_and_writes_every_item(
    stub: BulkStub,
    port: BotoBulkPort,
    staging: tuple[S3Store, StoreURL],
    table: str,
    dest: SideSession,
) -> None:
    write_export(staging[0], [GOOD[:6], GOOD[6:]])
    seen: list[BulkProgress] = []

    result = run(job(port, staging, table, progress=seen.append), timeout=TIMEOUT)

    check_result(result)
    assert (result.status, result.items, result.failed) == ("COMPLETED", 12, 0)
    assert table_ids(dest, table) == {f"k{n}" for n in range(12)}
    start = stub.calls[0][1]
    assert start["InputS3Configuration"] == {
        "S3Bucket": staging[1].bucket,
        "S3KeyPrefix": "migrations/AWSDynamoDB/01767225600000-abcd1234/data/",
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
        "S3BucketOwner": DEST_ACCOUNT,
    }
    assert start["MaxWriteRequestUnits"] == 2048
    assert [p.status for p in seen] == ["IN_PROGRESS", "COMPLETED"]
    assert seen[0].items == 12
    assert seen[0].bytes_read == seen[0].bytes_total > 0


def test_completed_with_errors_reads_the_report_back_as_rejects(
    port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str, dest: SideSession
) -> None:
    write_export(staging[0], [[*GOOD[:3], BAD, *GOOD[3:5]]])
    store = staging[0]
    rejects = RejectLog(store, f"ddbmigrate/runs/{RUN_ID}", max_rejects=10)

    result = run(job(port, staging, table), timeout=TIMEOUT)
    check_result(result)  # not FAILED nor CANCELLED: the report decides
    counted = record_report(store, rejects, run_id=RUN_ID, unit=table, result=result)

    assert (result.status, result.failed, counted) == ("COMPLETED_WITH_ERRORS", 1, 1)
    reject = rejects.rejects[0]
    assert reject.item == BAD
    assert reject.line == 4
    assert reject.file.endswith("data/000000-00000.json.gz")
    assert "ValidationException" in reject.reason
    with pytest.raises(RejectsError):
        rejects.raise_if_any()  # so the run's exit code is not 0
    assert table_ids(dest, table) == {f"k{n}" for n in range(5)}


def test_a_failed_operation_is_an_error_and_a_rerun_starts_anew(
    stub: BulkStub, port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str
) -> None:
    write_export(staging[0], [GOOD[:6], GOOD[6:]])
    stub.script[table] = "fail"

    result = run(job(port, staging, table), timeout=TIMEOUT)

    with pytest.raises(BulkFailedError, match="FAILED \\(InternalFailure"):
        check_result(result)

    stub.script[table] = "complete"  # the cause is fixed; the same command runs again
    again = run(job(port, staging, table), timeout=TIMEOUT)

    assert again.status == "COMPLETED"
    assert again.arn != result.arn
    assert (
        len({call[1]["ClientToken"] for call in stub.calls if call[0] == "StartBulkPutItems"}) == 2
    )


def test_a_resume_re_attaches_to_the_recorded_operation(
    stub: BulkStub, port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str
) -> None:
    write_export(staging[0], [GOOD])
    first = job(port, staging, table)
    arn = first.start()  # the process dies here, after the start was recorded

    again = job(port, staging, table)
    result = run(again, timeout=TIMEOUT)

    assert result.arn == arn
    assert result.status == "COMPLETED"
    assert stub.starts() == 1


def test_a_crash_before_the_record_re_attaches_by_client_token(
    stub: BulkStub, port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str
) -> None:
    write_export(staging[0], [GOOD])
    first = job(port, staging, table)
    arn = first.start()
    staging[0].delete(first.record_key)  # the crash came before the ARN was written down

    result = run(job(port, staging, table), timeout=TIMEOUT)

    assert result.arn == arn
    assert stub.starts() == 2
    assert len(stub.operations) == 1
    assert (
        len({call[1]["ClientToken"] for call in stub.calls if call[0] == "StartBulkPutItems"}) == 1
    )


def test_a_resume_with_other_options_is_refused_by_the_token(
    port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str
) -> None:
    write_export(staging[0], [GOOD])
    first = job(port, staging, table)
    first.start()
    staging[0].delete(first.record_key)
    other = job(port, staging, table)
    other.request = {**other.request, "MaxWriteRequestUnits": 4096}

    with pytest.raises(FatalError, match="other parameters") as caught:
        other.start()
    assert "options it was started with" in str(caught.value.hint)


def test_ctrl_c_cancels_the_operation(
    stub: BulkStub, port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str
) -> None:
    write_export(staging[0], [GOOD])
    stub.script[table] = "hang"

    def interrupt(progress: BulkProgress) -> None:
        if progress.status == "IN_PROGRESS":
            raise Interrupted()

    bulk = job(port, staging, table, progress=interrupt)
    with pytest.raises(Interrupted):
        run(bulk, timeout=TIMEOUT)

    assert [name for name, _ in stub.calls][-2:] == [
        "CancelBulkOperation",
        "DescribeBulkOperation",
    ]
    (operation,) = stub.operations.values()
    assert operation.status == "CANCELLED"
    recorded: dict[str, Any] = bulk.recorded() or {}
    assert recorded["status"] == "CANCELLED"
    with pytest.raises(BulkCancelledError):
        check_result(bulk.wait(operation.arn, timeout=TIMEOUT))


def test_a_data_pipeline_backup_is_refused_before_any_request(
    stub: BulkStub, port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str
) -> None:
    write_export(staging[0], [GOOD], fmt="datapipeline")

    with pytest.raises(BulkRefusedError, match="datapipeline") as caught:
        job(port, staging, table)

    assert "--import-method batch" in str(caught.value.hint)
    assert stub.calls == []


def test_an_object_the_manifest_does_not_list_is_refused(
    stub: BulkStub, port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str
) -> None:
    write_export(staging[0], [GOOD])
    staging[0].put("AWSDynamoDB/01767225600000-abcd1234/data/copy.json.gz", b"")

    with pytest.raises(BulkRefusedError, match="would be loaded too"):
        job(port, staging, table)

    assert stub.calls == []


class Steps:
    """An Observer that keeps what it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def step_started(self, step: str, *, total: int | None) -> None:
        self.events.append(("started", total))

    def advanced(self, step: str, items: int) -> None:
        self.events.append(("advanced", items))

    def message(self, text: str) -> None:
        self.events.append(("message", text.rsplit(": ", maxsplit=1)[-1]))

    def step_finished(self, step: str, *, summary: str) -> None:
        self.events.append(("finished", summary))


def target(
    staging: tuple[S3Store, StoreURL], table: str, description: dict[str, Any]
) -> BulkTarget:
    store, url = staging
    return BulkTarget(
        plan=detect(store),
        store=store,
        url=url,
        bucket_owner=DEST_ACCOUNT,
        table=table,
        description=description,
    )


def test_import_bulk_reports_progress_and_records_rejects(
    port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str, dest: SideSession
) -> None:
    write_export(staging[0], [[*GOOD[:3], BAD, *GOOD[3:5]]])
    description = dest.client("dynamodb").describe_table(TableName=table)["Table"]
    rejects = RejectLog(staging[0], f"ddbmigrate/runs/{RUN_ID}", max_rejects=5)
    steps = Steps()

    result = import_bulk(
        port,
        target(staging, table, description),
        run_id=RUN_ID,
        unit=table,
        options=BulkOptions(),
        clock=FakeClock(),
        rejects=rejects,
        observer=steps,
    )

    assert result.status == "COMPLETED_WITH_ERRORS"
    assert steps.events == [
        ("started", 6),
        ("advanced", 6),
        ("message", "IN_PROGRESS"),
        ("message", "COMPLETED_WITH_ERRORS"),
        ("finished", "6 items, 1 rejected"),
    ]
    assert [r.item for r in rejects.rejects] == [BAD]


def test_import_bulk_refuses_a_global_table_before_any_request(
    stub: BulkStub, port: BotoBulkPort, staging: tuple[S3Store, StoreURL], table: str
) -> None:
    write_export(staging[0], [GOOD])
    description = {
        "TableName": table,
        "TableStatus": "ACTIVE",
        "Replicas": [{"RegionName": "eu-west-1"}],
    }

    with pytest.raises(BulkRefusedError, match="global table"):
        import_bulk(
            port,
            target(staging, table, description),
            run_id=RUN_ID,
            unit=table,
            options=BulkOptions(),
            clock=FakeClock(),
            rejects=RejectLog(staging[0], f"ddbmigrate/runs/{RUN_ID}", max_rejects=0),
            observer=Steps(),
        )

    assert stub.calls == []
