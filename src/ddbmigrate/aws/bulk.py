"""``ddbmigrate.bulk.BulkPort`` on boto3: StartBulkPutItems, DescribeBulkOperation,
CancelBulkOperation (botocore >= 1.43.124 has them; no emulator does, the tests use a stub
endpoint that checks every request against botocore's model)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from ddbmigrate.aws.dynamodb import json_safe
from ddbmigrate.aws.errors import translate
from ddbmigrate.aws.session import SideSession
from ddbmigrate.bulk import BATCH_HINT, BulkRefusedError
from ddbmigrate.errors import DdbMigrateError, FatalError, UnsupportedError

_UNSUPPORTED_HINT = (
    "this endpoint (or botocore version) has no StartBulkPutItems; use --import-method batch"
)


class BotoBulkPort:
    """The bulk operations of one side's DynamoDB client."""

    def __init__(self, session: SideSession) -> None:
        self._session = session

    def start(self, request: Mapping[str, Any]) -> dict[str, Any]:
        table = str(request.get("TableName"))
        response = self._call("start_bulk_put_items", f"bulk load into table {table!r}", request)
        return dict(json_safe(response["BulkOperationDescription"]))

    def describe(self, arn: str) -> dict[str, Any]:
        response = self._call(
            "describe_bulk_operation", f"bulk operation {arn}", {"BulkOperationArn": arn}
        )
        return dict(json_safe(response["BulkOperationDescription"]))

    def cancel(self, arn: str) -> str:
        response = self._call(
            "cancel_bulk_operation", f"cancel bulk operation {arn}", {"BulkOperationArn": arn}
        )
        return str(response.get("BulkOperationStatus"))

    def _call(self, method: str, what: str, kwargs: Mapping[str, Any]) -> Any:
        client = self._session.client("dynamodb")
        if not hasattr(client, method):
            raise UnsupportedError(f"{what}: botocore has no {method}", hint=_UNSUPPORTED_HINT)
        operation = "".join(part.title() for part in method.split("_"))
        try:
            return getattr(client, method)(**kwargs)
        except ClientError as exc:
            raise _special(exc, what) or translate(
                exc, what=what, action=f"dynamodb:{operation}"
            ) from exc
        except DdbMigrateError:
            raise
        except Exception as exc:
            raise translate(exc, what=what, action=f"dynamodb:{operation}") from exc


def _special(exc: ClientError, what: str) -> DdbMigrateError | None:
    """The answers of StartBulkPutItems that mean something particular here."""
    error = (exc.response or {}).get("Error", {})
    code, message = str(error.get("Code") or ""), str(error.get("Message") or "")
    if code == "IdempotentParameterMismatchException":
        return FatalError(
            f"{what}: this run already started a bulk operation with other parameters ({message})",
            hint="resume the run with the options it was started with, or start a new run",
        )
    if code in ("ResourceInUseException", "LimitExceededException"):
        return BulkRefusedError(f"{what}: {code}: {message}", hint=BATCH_HINT)
    return None
