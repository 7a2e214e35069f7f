"""The reference data plane on boto3's own client, to measure the lean one against.

``Boto3TableReader`` and ``Boto3TableWriter`` implement the same ports as
``DynamoTableReader`` and ``DynamoTableWriter`` and behave the same way: items in wire form,
no retries inside (the caller's policy decides, per page or batch), ``x-amz-crc32`` verified,
a 200 that is not a JSON object a TransientError, errors mapped through ``aws.errors``.
Only the cost differs: botocore validates, serialises and walks its shape model for every
item (DESIGN.md, "Two planes").

boto3's low-level client returns binary values (B, BS, also inside M and L) as bytes and
wants bytes back; wire form spells them as base64 text. The converters below are the only
place items change shape, and they touch nothing but binary.
"""

from __future__ import annotations

import base64
import binascii
import threading
import weakref
import zlib
from collections.abc import Callable
from typing import Any

import orjson
from botocore import exceptions as bce
from botocore.config import Config

from ddbmigrate.aws.dynamodb import scan_request
from ddbmigrate.aws.errors import classify, translate
from ddbmigrate.aws.session import SideSession, botocore_session, client_config
from ddbmigrate.errors import RejectedItemError, TransientError
from ddbmigrate.model import Item, Segment
from ddbmigrate.ports import ScanPage, WriteRequest, WriteResult

# botocore's standard mode would retry throttling, 5xx and a bad CRC32 up to 10 times
# before the caller saw anything; the wire client retries nothing, so neither does this.
_NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})

_CLIENTS: weakref.WeakKeyDictionary[SideSession, Any] = weakref.WeakKeyDictionary()
_CLIENTS_LOCK = threading.Lock()


class Boto3TableReader:
    """``ports.TableReader`` on boto3's ``scan``."""

    def __init__(self, session: SideSession, table: str) -> None:
        self._session = session
        self._table = table
        self._client = data_client(session)

    def __reduce__(self) -> tuple[Any, ...]:
        # A botocore client does not pickle; a worker process makes its own from the session.
        return (type(self), (self._session, self._table))

    @property
    def table_name(self) -> str:
        return self._table

    def scan(
        self,
        *,
        segment: Segment,
        start_key: Item | None = None,
        limit: int | None = None,
        consistent: bool = False,
    ) -> ScanPage:
        """One Scan call; the items come back in wire form, as DynamoDB sent them."""
        boto3_key = None if start_key is None else item_to_boto3(start_key)
        kwargs = scan_request(self._table, segment, boto3_key, limit=limit, consistent=consistent)
        what = _table_what(self._session, self._table)
        response = _call(self._client.scan, "Scan", what=what, rejected=False, **kwargs)
        last_key = response.get("LastEvaluatedKey")
        consumed = response.get("ConsumedCapacity") or {}
        return ScanPage(
            items=[item_from_boto3(item) for item in response.get("Items", [])],
            last_key=None if last_key is None else item_from_boto3(last_key),
            consumed=float(consumed.get("CapacityUnits", 0.0)),
        )


class Boto3TableWriter:
    """``ports.TableWriter`` on boto3's ``batch_write_item``."""

    def __init__(self, session: SideSession, table: str) -> None:
        self._session = session
        self._table = table
        self._client = data_client(session)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._session, self._table))

    @property
    def table_name(self) -> str:
        return self._table

    def batch_write(self, requests: list[WriteRequest]) -> WriteResult:
        """One BatchWriteItem; a ValidationException raises RejectedItemError."""
        what = _table_what(self._session, self._table)
        try:
            sent = [request_to_boto3(request) for request in requests]
        except binascii.Error as exc:
            # DynamoDB answers ValidationException to such an item; botocore would send it
            # base64-encoded a second time, so it is refused here instead.
            detail = f"a binary value is not base64 ({exc})"
            raise _rejected(detail, what=what) from exc
        response = _call(
            self._client.batch_write_item,
            "BatchWriteItem",
            what=what,
            rejected=True,
            RequestItems={self._table: sent},
            ReturnConsumedCapacity="TOTAL",
        )
        unprocessed = (response.get("UnprocessedItems") or {}).get(self._table, [])
        consumed = sum(
            float(entry.get("CapacityUnits", 0.0)) for entry in response.get("ConsumedCapacity", [])
        )
        return WriteResult(
            unprocessed=[request_from_boto3(request) for request in unprocessed],
            consumed=consumed,
        )


# --- wire form <-> boto3 ---------------------------------------------------------------------


def item_from_boto3(item: dict[str, Any]) -> Item:
    """An item (or key) as boto3 returns it, in wire form: binary as base64 text."""
    return {name: _value_from_boto3(value) for name, value in item.items()}


def item_to_boto3(item: Item) -> dict[str, Any]:
    """A wire-form item (or key) as boto3 wants it: binary as bytes.

    Raises ``binascii.Error`` when a binary value is not valid base64.
    """
    return {name: _value_to_boto3(value) for name, value in item.items()}


def request_to_boto3(request: WriteRequest) -> dict[str, Any]:
    """``{"PutRequest": {"Item": ...}}`` or ``{"DeleteRequest": {"Key": ...}}`` for boto3."""
    return _convert_request(request, item_to_boto3)


def request_from_boto3(request: dict[str, Any]) -> WriteRequest:
    """An unprocessed request as boto3 returns it, back in wire form."""
    return _convert_request(request, item_from_boto3)


def _convert_request(
    request: dict[str, Any], convert: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    return {
        kind: {
            field: convert(value) if field in ("Item", "Key") else value
            for field, value in body.items()
        }
        for kind, body in request.items()
    }


def _value_from_boto3(value: dict[str, Any]) -> dict[str, Any]:
    return {kind: _inner_from_boto3(kind, inner) for kind, inner in value.items()}


def _inner_from_boto3(kind: str, inner: Any) -> Any:
    if kind == "B":
        return _b64(inner)
    if kind == "BS":
        return [_b64(member) for member in inner]
    if kind == "M":
        return {name: _value_from_boto3(member) for name, member in inner.items()}
    if kind == "L":
        return [_value_from_boto3(member) for member in inner]
    return inner


def _value_to_boto3(value: dict[str, Any]) -> dict[str, Any]:
    return {kind: _inner_to_boto3(kind, inner) for kind, inner in value.items()}


def _inner_to_boto3(kind: str, inner: Any) -> Any:
    if kind == "B":
        return _unb64(inner)
    if kind == "BS":
        return [_unb64(member) for member in inner]
    if kind == "M":
        return {name: _value_to_boto3(member) for name, member in inner.items()}
    if kind == "L":
        return [_value_to_boto3(member) for member in inner]
    return inner


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    # validate: without it, b64decode drops stray characters and sends other bytes.
    return base64.b64decode(text, validate=True)


# --- the client ------------------------------------------------------------------------------


def data_client(session: SideSession) -> Any:
    """This process's data-plane DynamoDB client of ``session``: the side's credentials,
    region and endpoint, the control plane's pool and timeouts, no retries of its own."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(session)
        if client is None:
            client = _new_client(session)
            _CLIENTS[session] = client
        return client


def _new_client(session: SideSession) -> Any:
    core = botocore_session(session.side.profile, session.credentials())
    config = client_config("dynamodb", path_style=False).merge(_NO_RETRIES)
    try:
        client = core.create_client(
            "dynamodb",
            region_name=session.region,
            endpoint_url=session.dynamodb_endpoint,
            config=config,
        )
    except Exception as exc:
        raise translate(exc, what=f"dynamodb client for {session.side.describe()}") from exc
    client.meta.events.register("before-parse.dynamodb", _check_response)
    return client


class _DamagedResponse(Exception):  # noqa: N818 - internal, becomes a TransientError
    """The response body failed a check WireClient makes too."""


def _check_response(response_dict: dict[str, Any], **_: Any) -> None:
    """What the wire client (and urllib3 under it) checks and botocore lets through: a body
    shorter than its Content-Length, a damaged body (botocore's CRC32 check only asks for a
    retry, and there are none), and a 200 holding something other than a JSON object. botocore
    parses the last two as an empty page: the end of the segment, items silently lost."""
    body: bytes = response_dict.get("body") or b""
    headers = response_dict["headers"]
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) != len(body):
        raise _DamagedResponse(f"response body cut short: {len(body)} of {length} bytes")
    header = headers.get("x-amz-crc32")
    if header is not None:
        actual = zlib.crc32(body) & 0xFFFFFFFF
        if str(actual) != header.strip():
            raise _DamagedResponse(
                f"response CRC32 {actual} does not match x-amz-crc32 {header}; "
                "the response was damaged in transit"
            )
    if response_dict["status_code"] == 200 and not _is_json_object(body):
        raise _DamagedResponse(f"response is not a JSON object: {body[:200]!r}")


def _is_json_object(body: bytes) -> bool:
    # An extra orjson parse of each page (about a fifth of botocore's own parse of it,
    # measured): the price of never reading a foreign or cut body as an empty page.
    try:
        return isinstance(orjson.loads(body), dict)
    except orjson.JSONDecodeError:
        return False


def _call(
    method: Callable[..., dict[str, Any]],
    operation: str,
    *,
    what: str,
    rejected: bool,
    **kwargs: Any,
) -> dict[str, Any]:
    try:
        return method(**kwargs)
    except _DamagedResponse as exc:
        raise TransientError(f"{what}: {exc}") from exc
    except bce.ParamValidationError as exc:
        # botocore refuses before sending what DynamoDB would answer ValidationException to.
        if rejected:
            raise _rejected(str(exc), what=what) from exc
        raise translate(exc, what=what, action=f"dynamodb:{operation}") from exc
    except Exception as exc:
        action = f"dynamodb:{operation}"
        raise translate(exc, what=what, action=action, rejected=rejected) from exc


def _rejected(detail: str, *, what: str) -> RejectedItemError:
    error = classify(
        "ValidationException",
        detail,
        status=400,
        what=what,
        rejected=True,
        operation="BatchWriteItem",
    )
    assert isinstance(error, RejectedItemError)
    return error


def _table_what(session: SideSession, table: str) -> str:
    return f"table {table!r} in {session.region}"
