"""aws.streams turns boto3's answers into the port's terms (no network: the parsing only)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from ddbmigrate.aws.streams import _description, _record, _stream_error
from ddbmigrate.errors import (
    ExpiredIteratorError,
    NotFoundError,
    StreamTrimmedError,
    ThrottledError,
)
from ddbmigrate.live.ports import Shard


def _client_error(code: str, operation: str = "GetRecords") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, operation)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ExpiredIteratorException", ExpiredIteratorError),
        ("TrimmedDataAccessException", StreamTrimmedError),
        ("ResourceNotFoundException", NotFoundError),
        ("LimitExceededException", ThrottledError),
    ],
)
def test_stream_errors_become_the_replays_errors(code: str, expected: type[Exception]) -> None:
    assert isinstance(_stream_error(_client_error(code), "a stream shard"), expected)


def test_a_record_keeps_wire_form_and_its_time_in_seconds() -> None:
    body = {
        "eventName": "MODIFY",
        "dynamodb": {
            "SequenceNumber": "300000000000000000001",
            "ApproximateCreationDateTime": datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC),
            "Keys": {"pk": {"B": b"\x00\xff"}},
            "NewImage": {
                "pk": {"B": b"\x00\xff"},
                "n": {"N": "12345678901234567890123456789012345678"},
                "m": {"M": {"bs": {"BS": [b"\x01"]}}},
                "l": {"L": []},
            },
        },
    }

    record = _record(body)

    assert record.event == "MODIFY"
    assert record.sequence == "300000000000000000001"
    assert record.created == 1767225605.0
    assert record.keys == {"pk": {"B": "AP8="}}
    assert record.new_image == {
        "pk": {"B": "AP8="},
        "n": {"N": "12345678901234567890123456789012345678"},
        "m": {"M": {"bs": {"BS": ["AQ=="]}}},
        "l": {"L": []},
    }


def test_a_description_joins_its_pages_and_keeps_lineage() -> None:
    first = {
        "TableName": "src",
        "StreamStatus": "ENABLED",
        "StreamViewType": "NEW_IMAGE",
        "Shards": [{"ShardId": "p", "SequenceNumberRange": {"StartingSequenceNumber": "1",
                                                            "EndingSequenceNumber": "9"}}],
    }  # fmt: skip
    child = {"ShardId": "c", "ParentShardId": "p",
             "SequenceNumberRange": {"StartingSequenceNumber": "10"}}  # fmt: skip
    second = {**first, "Shards": [child]}

    found = _description("arn:s", [first, second])

    assert found.table == "src"
    assert found.shards == [Shard("p", None, "1", "9"), Shard("c", "p", "10", None)]
