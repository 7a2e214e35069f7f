"""The lean DynamoDB data-plane client: SigV4-signed JSON over a urllib3 pool.

boto3 spends ~400 µs of CPU per item on a Scan page walking its shape model; signing the
request with botocore's own signer, sending it on a urllib3 pool and parsing with orjson
costs ~40 µs. Items stay in wire form: numbers are strings, binary is base64 text.

No retries happen here: every fault becomes a ``ddbmigrate.errors`` class and the caller's
policy (``ddbmigrate.retry``) decides, at the level of one page or one batch.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import get_cert_path

from ddbmigrate.aws.errors import from_wire_error, translate
from ddbmigrate.aws.session import CONNECT_TIMEOUT, MAX_POOL_CONNECTIONS, READ_TIMEOUT, SideSession
from ddbmigrate.errors import DdbMigrateError, RejectedItemError, TransientError

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIXES = {"dynamodb": TARGET_PREFIX, "dynamodbstreams": "DynamoDBStreams_20120810."}
"""Per service this client speaks: both are JSON 1.0, both signed as ``dynamodb``."""


class WireClient:
    """Sends one DynamoDB JSON operation per ``call``. Thread-safe; one pool per client."""

    def __init__(
        self,
        session: SideSession,
        *,
        maxsize: int = MAX_POOL_CONNECTIONS,
        service: str = "dynamodb",
    ) -> None:
        self.session = session
        self._maxsize = maxsize
        self.service = service
        self._target = TARGET_PREFIXES[service]
        self.region = session.region
        self.endpoint = _with_path(_endpoint_of(session, service))
        self._credentials = session.credentials()
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=maxsize,
            retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # In a worker process: one client (and connection pool) per session there.
        return (wire_for, (self.session, self._maxsize, self.service))

    def call(
        self,
        operation: str,
        body: dict[str, Any],
        *,
        what: str | None = None,
        rejected: bool = False,
        own_errors: Mapping[str, type[DdbMigrateError]] | None = None,
    ) -> dict[str, Any]:
        """POST ``operation`` with ``body``; return the parsed response.

        ``what`` names the object for error messages (default: the endpoint); ``rejected``
        makes a ValidationException, a SerializationException or an item that cannot be
        encoded a ``RejectedItemError`` (a refused item, not a bug); ``own_errors`` maps
        error codes the caller handles itself to the class it wants.
        """
        what = what or f"DynamoDB at {self.endpoint}"
        try:
            payload = orjson.dumps(body)
        except orjson.JSONEncodeError as exc:  # an item nested too deep, a lone surrogate
            if not rejected:
                raise
            # What cannot be encoded is an item of the request, never the request itself.
            raise RejectedItemError(f"{what}: the item cannot be sent as JSON ({exc})") from exc
        try:
            response = self._pool.request(
                "POST",
                self.endpoint,
                body=payload,
                headers=self._signed_headers(operation, payload),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise translate(exc, what=what) from exc
        data: bytes = response.data
        _check_crc32(response.headers.get("x-amz-crc32"), data, what=what)
        if response.status != 200:
            answer = _loads(data)
            own = (own_errors or {}).get(_code(answer))
            if own is not None:
                raise own(f"{what}: {_code(answer)}")
            action = f"dynamodb:{operation}"
            raise from_wire_error(
                response.status, answer, what=what, action=action, rejected=rejected
            )
        return _parse_ok(data, what=what)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()

    def _signed_headers(self, operation: str, payload: bytes) -> dict[str, str]:
        # Frozen per request: refreshable credentials renew themselves here before expiry.
        frozen = self._credentials.get_frozen_credentials()
        return sign_headers(
            frozen,
            region=self.region,
            url=self.endpoint,
            operation=operation,
            payload=payload,
            target_prefix=self._target,
        )


def sign_headers(
    credentials: Any,
    *,
    region: str,
    url: str,
    operation: str,
    payload: bytes,
    target_prefix: str = TARGET_PREFIX,
) -> dict[str, str]:
    """The headers of one DynamoDB JSON call, signed with botocore's own SigV4 signer.

    ``credentials`` are frozen botocore credentials; ``url`` is exactly the URL the request
    goes to (its path is signed). A test pins these against botocore's client.
    """
    request = AWSRequest(
        method="POST",
        url=url,
        data=payload,
        headers={"X-Amz-Target": target_prefix + operation, "Content-Type": CONTENT_TYPE},
    )
    SigV4Auth(credentials, "dynamodb", region).add_auth(request)
    return dict(request.headers.items())


_WIRES: dict[tuple[int, str], WireClient] = {}
_WIRES_LOCK = threading.Lock()


def wire_for(
    session: SideSession, maxsize: int = MAX_POOL_CONNECTIONS, service: str = "dynamodb"
) -> WireClient:
    """This process's one wire client of ``session`` (what an unpickled WireClient becomes)."""
    with _WIRES_LOCK:
        if (id(session), service) not in _WIRES:
            _WIRES[id(session), service] = WireClient(session, maxsize=maxsize, service=service)
        return _WIRES[id(session), service]


def _endpoint_of(session: SideSession, service: str) -> str:
    """The URL botocore resolved for ``service`` (side flag, AWS_ENDPOINT_URL_*, or AWS's)."""
    if service == "dynamodb":
        return session.dynamodb_endpoint
    return str(session.client(service).meta.endpoint_url)


def _with_path(endpoint: str) -> str:
    # SigV4 signs the path "/" and the request must send the same one.
    return endpoint if urlsplit(endpoint).path else endpoint.rstrip("/") + "/"


def _check_crc32(header: str | None, data: bytes, *, what: str) -> None:
    """DynamoDB's checksum of the body; a mismatch means the bytes were damaged in transit."""
    if header is None:
        return
    actual = zlib.crc32(data) & 0xFFFFFFFF
    if str(actual) != header.strip():
        raise TransientError(
            f"{what}: response CRC32 {actual} does not match x-amz-crc32 {header}; "
            "the response was damaged in transit"
        )


def _code(payload: Any) -> str:
    """The error code of an error body: ``"com.amazonaws...#ExpiredIteratorException"`` ->
    ``ExpiredIteratorException``."""
    body = payload if isinstance(payload, dict) else {}
    return str(body.get("__type", "")).rpartition("#")[2]


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _parse_ok(data: bytes, *, what: str) -> dict[str, Any]:
    parsed = _loads(data)
    if not isinstance(parsed, dict):
        # A proxy or load balancer answered 200 with something that is not DynamoDB JSON.
        raise TransientError(f"{what}: response is not a JSON object: {data[:200]!r}")
    return parsed
