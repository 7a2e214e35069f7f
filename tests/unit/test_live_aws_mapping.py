"""aws.streams turns DynamoDB Streams' answers into the port's terms (no network: the parsing
only)."""

from __future__ import annotations

import orjson
import pytest
from botocore.exceptions import ClientError

from ddbmigrate.aws.session import SideSession
from ddbmigrate.aws.streams import DynamoStreams, _description, _stream_error, wire_record
from ddbmigrate.config import Side
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
    image = {
        "pk": {"B": "AP8="},
        "n": {"N": "12345678901234567890123456789012345678"},
        "m": {"M": {"bs": {"BS": ["AQ=="]}}},
        "l": {"L": []},
    }
    body = orjson.loads(
        orjson.dumps(
            {
                "eventName": "MODIFY",
                "dynamodb": {
                    "SequenceNumber": "300000000000000000001",
                    "ApproximateCreationDateTime": 1767225605,
                    "Keys": {"pk": {"B": "AP8="}},
                    "NewImage": image,
                    "OldImage": {"pk": {"B": "AP8="}},
                },
            }
        )
    )

    record = wire_record(body)

    assert record.event == "MODIFY"
    assert record.sequence == "300000000000000000001"
    assert record.created == 1767225605.0
    assert record.keys == {"pk": {"B": "AP8="}}
    assert record.new_image == image


def test_a_remove_has_keys_and_no_new_image() -> None:
    body = {
        "eventName": "REMOVE",
        "dynamodb": {
            "SequenceNumber": "7",
            "ApproximateCreationDateTime": 1767225605.5,
            "Keys": {"pk": {"S": "a"}},
            "OldImage": {"pk": {"S": "a"}, "x": {"N": "1"}},
        },
    }

    record = wire_record(body)

    assert (record.event, record.keys, record.new_image) == ("REMOVE", {"pk": {"S": "a"}}, None)
    assert record.created == 1767225605.5


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


class _Answer:
    def __init__(self, status: int, body: dict[str, object]) -> None:
        self.status = status
        self.headers: dict[str, str] = {}
        self.data = orjson.dumps(body)


class _Pool:
    """Stands in for the wire client's urllib3 pool: one canned answer, requests kept."""

    def __init__(self, answer: _Answer) -> None:
        self.answer = answer
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def request(self, method: str, url: str, *, body: bytes, headers: dict[str, str]) -> _Answer:
        self.sent.append((url, body, headers))
        return self.answer


def _streams_answering(
    status: int, body: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> tuple[DynamoStreams, _Pool]:
    streams = DynamoStreams(
        SideSession(Side(endpoint_url="http://127.0.0.1:9", region="eu-west-1"))
    )
    pool = _Pool(_Answer(status, body))
    monkeypatch.setattr(streams._wire, "_pool", pool)
    return streams, pool


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ExpiredIteratorException", ExpiredIteratorError),
        ("TrimmedDataAccessException", StreamTrimmedError),
        ("LimitExceededException", ThrottledError),
        ("ResourceNotFoundException", NotFoundError),
    ],
)
def test_get_records_errors_on_the_wire_become_the_replays_errors(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, code: str, expected: type[Exception]
) -> None:
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "m"}
    streams, _ = _streams_answering(400, body, monkeypatch)

    with pytest.raises(expected):
        streams.get_records("it-1", limit=1000)


def test_get_records_reads_the_page_in_wire_form_from_the_streams_target(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = {
        "eventName": "INSERT",
        "dynamodb": {
            "SequenceNumber": "5",
            "ApproximateCreationDateTime": 1767225605,
            "Keys": {"pk": {"S": "a"}},
            "NewImage": {"pk": {"S": "a"}, "b": {"B": "AP8="}},
        },
    }
    streams, pool = _streams_answering(
        200, {"Records": [record], "NextShardIterator": "it-2"}, monkeypatch
    )

    page = streams.get_records("it-1", limit=500)

    assert page.next_iterator == "it-2"
    assert [r.new_image for r in page.records] == [{"pk": {"S": "a"}, "b": {"B": "AP8="}}]
    [(_, body, headers)] = pool.sent
    assert orjson.loads(body) == {"ShardIterator": "it-1", "Limit": 500}
    assert headers["X-Amz-Target"] == "DynamoDBStreams_20120810.GetRecords"
