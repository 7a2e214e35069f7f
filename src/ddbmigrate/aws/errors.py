"""Translate botocore, urllib3 and raw DynamoDB errors into ``ddbmigrate.errors``.

Both planes map through :func:`classify`, so a throttled Scan sent by the lean wire client
and a throttled DescribeTable sent by boto3 become the same ``ThrottledError`` and obey the
same retry policy. Call sites always ``raise translate(exc, what=...) from exc``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import urllib3.exceptions
from botocore import exceptions as bce

from ddbmigrate.errors import (
    AccessDeniedError,
    ConfigError,
    CredentialsError,
    DdbMigrateError,
    FatalError,
    NotFoundError,
    RejectedItemError,
    ThrottledError,
    TransientError,
    UnsupportedError,
)

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionConflictException",
        # UpdateContinuousBackups says this while a new table's backups are being set up.
        "ContinuousBackupsUnavailableException",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "InvalidAccessKeyId",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "RequestExpired",
    }
)
NOT_FOUND_CODES = frozenset(
    {"ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "NotFound", "404"}
)
ACCESS_DENIED_CODES = frozenset({"403", "Forbidden", "AllAccessDisabled"})
UNSUPPORTED_CODES = frozenset(
    {"UnknownOperationException", "UnsupportedOperation", "NotImplemented", "HTTP501"}
)

# AWS's denial text: "User: X is not authorized to perform: ACTION on resource: ARN".
_NOT_AUTHORIZED = re.compile(r"perform: (?P<action>\S+) on resource: (?P<resource>\S+)")

_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    bce.ConnectionError,  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError
    bce.HTTPClientError,  # ReadTimeoutError, ConnectionClosedError
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)
_CREDENTIAL_ERRORS: tuple[type[Exception], ...] = (
    bce.NoCredentialsError,
    bce.PartialCredentialsError,
    bce.CredentialRetrievalError,
    bce.TokenRetrievalError,
    bce.SSOError,
)

_CLASS_BY_CODE: dict[str, type[DdbMigrateError]] = {
    **dict.fromkeys(THROTTLING_CODES, ThrottledError),
    **dict.fromkeys(TRANSIENT_CODES, TransientError),
    **dict.fromkeys(CREDENTIAL_CODES, CredentialsError),
    **dict.fromkeys(NOT_FOUND_CODES, NotFoundError),
    **dict.fromkeys(ACCESS_DENIED_CODES, AccessDeniedError),
}
# Codes that, on a write of items, mean an item was refused: the batch is re-sent item by item.
_ITEM_CODES = frozenset({"ValidationException", "SerializationException"})
_STATIC_HINTS: dict[type[DdbMigrateError], str] = {
    ThrottledError: "lower --read-percent/--write-percent, or wait and resume",
    NotFoundError: "check the name, the region and the account (profile or role) in use",
    RejectedItemError: "the item breaks a DynamoDB limit or the table's key types",
}


def classify(
    code: str,
    message: str,
    *,
    status: int,
    what: str,
    action: str | None = None,
    resource: str | None = None,
    rejected: bool = False,
    operation: str | None = None,
) -> DdbMigrateError:
    """Map one AWS error code (and HTTP status) to the error class the caller should act on.

    ``rejected`` says that a ValidationException or SerializationException here means
    DynamoDB refused an item (BatchWriteItem, PutItem), which the run records as a reject
    instead of stopping (a SerializationException is what DynamoDB answers for
    ``{"S": 123}``: a value of the wrong JSON type).
    """
    cls = _error_class(code, status)
    if _unsupported(code, message, status):
        cls = UnsupportedError
    if code in _ITEM_CODES and rejected:
        cls = RejectedItemError
    detail = f"{code}: {message}" if message else code
    text = f"{what}: {operation} failed: {detail}" if operation else f"{what}: {detail}"
    if cls is NotFoundError:
        text = f"{what} does not exist ({detail})"
    return cls(text, hint=_hint(cls, code, message, action, resource))


def translate(
    exc: Exception,
    *,
    what: str,
    action: str | None = None,
    resource: str | None = None,
    rejected: bool = False,
) -> DdbMigrateError:
    """Convert a botocore/urllib3 exception into a ``DdbMigrateError`` about ``what``.

    ``action``/``resource`` (``dynamodb:Scan``, ``arn:aws:dynamodb:...``) feed the hint of an
    access-denied error when AWS's own message does not name them.
    """
    if isinstance(exc, DdbMigrateError):
        return exc
    if isinstance(exc, bce.ClientError):
        context = {"what": what, "action": action, "resource": resource, "rejected": rejected}
        return _from_client_error(exc, **context)
    if isinstance(exc, bce.ProfileNotFound):
        return profile_not_found(str(exc.kwargs.get("profile", "?")))
    return _from_sdk_error(exc, what=what)


def from_wire_error(
    status: int,
    payload: Any,
    *,
    what: str,
    action: str | None = None,
    rejected: bool = False,
) -> DdbMigrateError:
    """Map a raw DynamoDB JSON error body (``__type``, ``message``) to an error class."""
    body = payload if isinstance(payload, dict) else {}
    # "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException" -> last part.
    code = str(body.get("__type") or f"HTTP{status}").rpartition("#")[2]
    message = str(body.get("message") or body.get("Message") or "")
    return classify(
        code,
        message,
        status=status,
        what=what,
        action=action,
        rejected=rejected,
        operation=action.partition(":")[2] if action else None,
    )


def profile_not_found(profile: str) -> ConfigError:
    """The error for a named profile that ~/.aws/config does not define."""
    return ConfigError(
        f"AWS profile {profile!r} is not configured",
        hint=f"run `aws configure --profile {profile}` (or `aws sso login --profile {profile}`"
        " for an SSO profile), or fix --source-profile/--dest-profile",
    )


def profiles_not_found(missing: dict[str, str]) -> ConfigError:
    """Every named profile that ~/.aws/config does not define, by the flag that names it."""
    if len(set(missing.values())) == 1:
        (profile,) = set(missing.values())
        return profile_not_found(profile)
    names = " and ".join(f"{profile!r} ({flag})" for flag, profile in missing.items())
    return ConfigError(
        f"AWS profiles {names} are not configured",
        hint="run `aws configure --profile NAME` (or `aws sso login --profile NAME` for an SSO "
        f"profile) for each, or fix {'/'.join(missing)}",
    )


REGION_HINT = (
    "pass --source-region/--dest-region, set AWS_REGION, or add `region = ...` to the profile"
)
NO_CREDENTIALS_HINT = (
    "configure credentials (`aws configure`, `aws sso login`, AWS_ACCESS_KEY_ID/"
    "AWS_SECRET_ACCESS_KEY) or pass --source-profile/--dest-profile"
)


def _from_client_error(exc: bce.ClientError, **context: Any) -> DdbMigrateError:
    response = exc.response or {}
    error = response.get("Error", {})
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    code = str(error.get("Code") or f"HTTP{status}")
    message = str(error.get("Message") or "")
    operation = getattr(exc, "operation_name", None)
    return classify(code, message, status=status, operation=operation, **context)


def _from_sdk_error(exc: Exception, *, what: str) -> DdbMigrateError:
    text = f"{what}: {type(exc).__name__}: {exc}"
    if isinstance(exc, bce.NoRegionError):
        return ConfigError(f"{what}: no AWS region is set", hint=REGION_HINT)
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return CredentialsError(text, hint=NO_CREDENTIALS_HINT)
    if isinstance(exc, _CONNECTION_ERRORS):
        return TransientError(text)
    return FatalError(text)


def _unsupported(code: str, message: str, status: int) -> bool:
    """An endpoint that does not implement the operation: retrying will not help (a 501 is
    not a passing 5xx), and a caller reading an optional setting goes on without it."""
    if code in UNSUPPORTED_CODES or status == 501:
        return True
    text = f"{code} {message}".lower()
    return "not implemented" in text or "notimplemented" in text


def _error_class(code: str, status: int) -> type[DdbMigrateError]:
    if code.startswith("AccessDenied"):
        return AccessDeniedError
    fallback: type[DdbMigrateError] = FatalError
    if status == 429:
        fallback = ThrottledError
    elif status >= 500:
        fallback = TransientError
    return _CLASS_BY_CODE.get(code, fallback)


def _hint(
    cls: type[DdbMigrateError], code: str, message: str, action: str | None, resource: str | None
) -> str | None:
    if cls is AccessDeniedError:
        return _access_hint(message, action, resource)
    if cls is CredentialsError:
        return _credentials_hint(code)
    return _STATIC_HINTS.get(cls)


def _credentials_hint(code: str) -> str:
    if code == "RequestExpired":
        return "the request was signed with a wrong time: check this machine's clock"
    if code.startswith("ExpiredToken"):
        return "the session token expired: run `aws sso login` or refresh the credentials"
    return "the credentials are not valid for this account: " + NO_CREDENTIALS_HINT


def _access_hint(message: str, action: str | None, resource: str | None) -> str:
    match = _NOT_AUTHORIZED.search(message)
    if match:
        action, resource = match.group("action"), match.group("resource").rstrip(".")
    if action is None:
        return "grant the missing permission in IAM (the message above names it)"
    statement = {"Effect": "Allow", "Action": action, "Resource": resource or "*"}
    return (
        f"add this statement to the policy of the identity in use: {json.dumps(statement)} "
        "(`ddbmigrate policies` prints them all)"
    )
