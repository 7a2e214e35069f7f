"""boto3_plane's converters: wire form (binary as base64 text) <-> boto3 (binary as bytes).

The oracle is botocore itself, offline: what boto3's serializer puts on the wire for a
converted item must be the wire-form item, and what its parser makes of a wire-form
response must convert back to that item.
"""

from __future__ import annotations

import binascii
from typing import Any

import orjson
import pytest
from botocore import parsers, serialize
from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel
from hypothesis import given, settings
from wire_strategies import b64, items

from ddbmigrate.aws.boto3_plane import (
    Boto3TableReader,
    Boto3TableWriter,
    data_client,
    item_from_boto3,
    item_to_boto3,
    request_from_boto3,
    request_to_boto3,
)
from ddbmigrate.aws.session import SideSession
from ddbmigrate.config import Side
from ddbmigrate.errors import FatalError, RejectedItemError
from ddbmigrate.model import Item, Segment

_SERVICE = ServiceModel(Loader().load_service_model("dynamodb", "service-2"), "dynamodb")

NESTED: Item = {
    "pk": {"S": "nested"},
    "b": {"B": b64(b"\x00\xff\x10")},
    "empty": {"B": ""},
    "bs": {"BS": [b64(b"\xff"), b64(b"\x00")]},
    "m": {
        "M": {
            "bin": {"B": b64(b"\x01\x02")},
            "l": {"L": [{"B": b64(b"\xfe")}, {"M": {"deep": {"BS": [b64(b"\x03")]}}}]},
        }
    },
    "n": {"N": "1.50"},
    "ns": {"NS": ["1", "2.5"]},
    "ss": {"SS": ["a"]},
    "t": {"BOOL": True},
    "z": {"NULL": True},
}
NESTED_FOR_BOTO3: dict[str, Any] = {
    "pk": {"S": "nested"},
    "b": {"B": b"\x00\xff\x10"},
    "empty": {"B": b""},
    "bs": {"BS": [b"\xff", b"\x00"]},
    "m": {
        "M": {
            "bin": {"B": b"\x01\x02"},
            "l": {"L": [{"B": b"\xfe"}, {"M": {"deep": {"BS": [b"\x03"]}}}]},
        }
    },
    "n": {"N": "1.50"},
    "ns": {"NS": ["1", "2.5"]},
    "ss": {"SS": ["a"]},
    "t": {"BOOL": True},
    "z": {"NULL": True},
}


def _operation(name: str) -> OperationModel:
    return _SERVICE.operation_model(name)


def boto3_sends(params: dict[str, Any], operation: str) -> dict[str, Any]:
    """The JSON body botocore's own serializer (with validation) makes of ``params``."""
    serializer = serialize.create_serializer("json", include_validation=True)
    request = serializer.serialize_to_request(params, _operation(operation))
    return orjson.loads(request["body"])  # type: ignore[no-any-return]


def boto3_parses(body: dict[str, Any], operation: str) -> dict[str, Any]:
    """What botocore's parser hands a boto3 caller for this response body."""
    response = {"body": orjson.dumps(body), "headers": {}, "status_code": 200}
    parser = parsers.create_parser("json")
    return parser.parse(response, _operation(operation).output_shape)  # type: ignore[no-any-return]


def test_binary_becomes_bytes_at_every_depth_and_nothing_else_changes() -> None:
    assert item_to_boto3(NESTED) == NESTED_FOR_BOTO3
    assert item_from_boto3(NESTED_FOR_BOTO3) == NESTED


def test_requests_convert_their_item_or_key_only() -> None:
    put = {"PutRequest": {"Item": NESTED}}
    delete = {"DeleteRequest": {"Key": {"pk": {"B": b64(b"\x01")}}}}

    assert request_to_boto3(put) == {"PutRequest": {"Item": NESTED_FOR_BOTO3}}
    assert request_to_boto3(delete) == {"DeleteRequest": {"Key": {"pk": {"B": b"\x01"}}}}
    assert request_from_boto3(request_to_boto3(put)) == put
    assert request_from_boto3(request_to_boto3(delete)) == delete


@pytest.mark.parametrize("text", ["not base64!", "AAH", "AA=A", "AAH/\n"])
def test_binary_that_is_not_base64_is_refused_not_reinterpreted(text: str) -> None:
    with pytest.raises(binascii.Error):
        item_to_boto3({"m": {"M": {"b": {"B": text}}}})


def test_the_converters_copy_and_never_touch_their_input() -> None:
    before = orjson.dumps(NESTED)

    item_from_boto3(item_to_boto3(NESTED))

    assert orjson.dumps(NESTED) == before


@settings(max_examples=60)
@given(item=items)
def test_any_item_round_trips(item: Item) -> None:
    assert item_from_boto3(item_to_boto3(item)) == item


@settings(max_examples=60)
@given(item=items)
def test_boto3_puts_the_converted_item_on_the_wire_as_the_wire_form_item(item: Item) -> None:
    body = boto3_sends({"TableName": "t", "Item": item_to_boto3(item)}, "PutItem")

    assert body["Item"] == item


@settings(max_examples=60)
@given(item=items, key=items)
def test_what_boto3_parses_from_a_scan_converts_back_to_the_wire_form(
    item: Item, key: Item
) -> None:
    page = {"Items": [item], "Count": 1, "ScannedCount": 1, "LastEvaluatedKey": key}

    parsed = boto3_parses(page, "Scan")

    assert [item_from_boto3(found) for found in parsed["Items"]] == [item]
    assert item_from_boto3(parsed["LastEvaluatedKey"]) == key


@settings(max_examples=30)
@given(item=items)
def test_unprocessed_requests_come_back_in_wire_form(item: Item) -> None:
    request = {"PutRequest": {"Item": item}}
    body = {"UnprocessedItems": {"t": [request]}}

    parsed = boto3_parses(body, "BatchWriteItem")

    assert [request_from_boto3(r) for r in parsed["UnprocessedItems"]["t"]] == [request]


# --- the classes, offline: what is refused before anything is sent -------------------------


@pytest.fixture
def session(aws_env: None) -> SideSession:
    return SideSession(Side(endpoint_url="http://127.0.0.1:9", region="eu-west-1"))


def test_a_binary_value_that_is_not_base64_is_a_rejected_item(session: SideSession) -> None:
    writer = Boto3TableWriter(session, "t")

    with pytest.raises(RejectedItemError, match="not base64") as info:
        writer.batch_write([{"PutRequest": {"Item": {"pk": {"B": "%%%"}}}}])

    assert "table 't' in eu-west-1" in info.value.message
    assert info.value.hint is not None


def test_an_item_botocore_refuses_is_a_rejected_item(session: SideSession) -> None:
    writer = Boto3TableWriter(session, "t")

    with pytest.raises(RejectedItemError, match="BatchWriteItem failed: ValidationException"):
        writer.batch_write([{"PutRequest": {"Item": {"pk": {"N": 1}}}}])


def test_a_start_key_botocore_refuses_is_fatal_for_scan(session: SideSession) -> None:
    reader = Boto3TableReader(session, "t")

    with pytest.raises(FatalError, match="ParamValidationError") as info:
        reader.scan(segment=Segment(0, 1), start_key={"pk": {"N": 1}})

    assert type(info.value) is FatalError


def test_the_data_client_has_no_retries_and_is_shared(session: SideSession) -> None:
    client = data_client(session)

    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "eu-west-1"
    assert data_client(session) is client
    assert client is not session.client("dynamodb")  # the control plane keeps its retries


def test_reader_and_writer_rebuild_from_session_and_table(session: SideSession) -> None:
    reader, writer = Boto3TableReader(session, "a"), Boto3TableWriter(session, "b")

    for original in (reader, writer):
        cls, args = original.__reduce__()
        copy = cls(*args)
        assert type(copy) is type(original)
        assert copy.table_name == original.table_name
