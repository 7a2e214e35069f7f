"""aws.change_exports: the bridge's requests as AWS's model spells them, and PITR read back
(botocore's Stubber: no network; every request is checked against the service model)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ddbmigrate.aws.change_exports import AwsChangeExports
from ddbmigrate.errors import StreamTrimmedError
from ddbmigrate.testing import FakeClock

TABLE_ARN = "arn:aws:dynamodb:eu-west-1:111111111111:table/customer"
START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


class StubbedSession:
    """A SideSession whose one DynamoDB client is stubbed."""

    def __init__(self) -> None:
        self.dynamodb = boto3.client(
            "dynamodb",
            region_name="eu-west-1",
            aws_access_key_id="k",
            aws_secret_access_key="s",  # never sent: the Stubber answers
        )
        self.stub = Stubber(self.dynamodb)

    def client(self, service: str) -> Any:
        assert service == "dynamodb"
        return self.dynamodb


@pytest.fixture
def session() -> Iterator[StubbedSession]:
    made = StubbedSession()
    with made.stub:
        yield made
    made.stub.assert_no_pending_responses()


def exports(session: StubbedSession) -> AwsChangeExports:
    return AwsChangeExports(
        session,  # type: ignore[arg-type]
        session,  # type: ignore[arg-type]
        table="customer",
        bucket="bucket-in-b",
        prefix="migrations/",
        run_id="run-1",
        clock=FakeClock(),
        bucket_owner="222222222222",
    )


def recovery(status: str, earliest: float | None = None) -> dict[str, Any]:
    description: dict[str, Any] = {"PointInTimeRecoveryStatus": status}
    if earliest is not None:
        description["EarliestRestorableDateTime"] = datetime.fromtimestamp(earliest, UTC)
    return {
        "ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": description,
        }
    }


def test_an_incremental_export_of_the_window_into_the_runs_bridge_folder(
    session: StubbedSession,
) -> None:
    session.stub.add_response(
        "describe_table", {"Table": {"TableArn": TABLE_ARN}}, {"TableName": "customer"}
    )
    expected = {
        "TableArn": TABLE_ARN,
        "S3Bucket": "bucket-in-b",
        "S3Prefix": "migrations/bridge/run-1/1767229200-0",
        "S3BucketOwner": "222222222222",
        "ExportFormat": "DYNAMODB_JSON",
        "ExportType": "INCREMENTAL_EXPORT",
        "IncrementalExportSpecification": {
            "ExportFromTime": datetime.fromtimestamp(START, UTC),
            "ExportToTime": datetime.fromtimestamp(START + 3600, UTC),
            "ExportViewType": "NEW_IMAGE",
        },
        "ClientToken": ANY,
    }
    session.stub.add_response(
        "export_table_to_point_in_time",
        {"ExportDescription": {"ExportArn": f"{TABLE_ARN}/export/01-abc"}},
        expected,
    )

    arn = exports(session).start_export(START, START + 3600, slot="1767229200-0")

    assert arn == f"{TABLE_ARN}/export/01-abc"


def test_pitr_off_says_the_changes_are_gone_and_how_to_bridge_next_time(
    session: StubbedSession,
) -> None:
    session.stub.add_response("describe_continuous_backups", recovery("DISABLED"))
    with pytest.raises(StreamTrimmedError, match="point-in-time recovery is off") as gone:
        exports(session).check_history(START, StreamTrimmedError("records were trimmed"))
    assert "they are gone" in str(gone.value)
    assert "PointInTimeRecoveryEnabled=true" in str(gone.value.hint)


def test_pitr_turned_on_after_the_gap_began_cannot_bridge_it(session: StubbedSession) -> None:
    session.stub.add_response("describe_continuous_backups", recovery("ENABLED", START + 60))
    with pytest.raises(StreamTrimmedError, match="only since"):
        exports(session).check_history(START, StreamTrimmedError("records were trimmed"))


def test_pitr_on_before_the_gap_lets_the_bridge_go_on(session: StubbedSession) -> None:
    session.stub.add_response("describe_continuous_backups", recovery("ENABLED", START - 60))
    assert exports(session).check_history(START, StreamTrimmedError("trimmed")) is None
