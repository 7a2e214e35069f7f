"""``live.ports.ChangeExports`` on AWS: ExportTableToPointInTime with ``ExportType=
INCREMENTAL_EXPORT``, the bridge past the stream's 24 hours (docs/adr/0032, 0045).

Each window is exported into ``<staging>/bridge/<run-id>/<slot>/`` with the source's
credentials (the destination usually owns the bucket: ``S3BucketOwner`` is sent, as for
``--export-method native``), waited for, and found with the destination's credentials, as
``wiring.managed.native_export`` does. ``ExportViewType`` is NEW_IMAGE: applying a change
needs the new image only (``formats.incremental``). A ``ClientToken`` made of the run and the
slot makes a repeated start (after a crash before the ARN was recorded) the same export,
for the 8 hours AWS keeps the token.

AWS's rules for the window (API reference, ExportTableToPointInTime and the developer
guide's "incremental export"): ``[ExportFromTime, ExportToTime)`` of 15 minutes to 24
hours, in the past, within the point-in-time recovery window (``EarliestRestorableDateTime``
to ``LatestRestorableDateTime``); ``live.bridge`` cuts the windows so, and this module checks
the recovery window before the first export.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from ddbmigrate.aws import native_paths
from ddbmigrate.aws.native_paths import _dynamodb
from ddbmigrate.aws.session import SideSession
from ddbmigrate.errors import ExportFailedError, StreamTrimmedError
from ddbmigrate.ports import Clock

EXPORT_TIMEOUT = 86400.0
"""Seconds to wait for one export (they take minutes to hours; the bridge resumes)."""
VIEW_TYPE = "NEW_IMAGE"


class AwsChangeExports:
    """Incremental exports of ``table`` into the staging bucket ``bucket``/``prefix``."""

    def __init__(
        self,
        source: SideSession,
        reader: SideSession,
        *,
        table: str,
        bucket: str,
        prefix: str,
        run_id: str,
        clock: Clock,
        bucket_owner: str | None = None,
        sse: str | None = None,
        kms_key: str | None = None,
    ) -> None:
        self._source, self._reader = source, reader
        self._table, self._bucket, self._prefix = table, bucket, prefix.strip("/")
        self._run_id, self._clock = run_id, clock
        self._owner, self._sse, self._kms_key = bucket_owner, sse, kms_key

    def check_history(self, since: float, gap: Exception) -> None:
        recovery = self._recovery()
        if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
            raise pitr_off(self._table, gap)
        earliest = _epoch(recovery.get("EarliestRestorableDateTime"))
        if earliest is not None and earliest > since:
            raise StreamTrimmedError(
                f"{gap}; point-in-time recovery of table {self._table!r} holds its changes "
                f"only since {_iso(earliest)}, after the gap began ({_iso(since)}): no "
                "incremental export can bring them back",
                hint=_RESTART,
            )

    def start_export(self, start: float, end: float, *, slot: str) -> str:
        prefix = "/".join(p for p in (self._prefix, "bridge", self._run_id, slot) if p)
        return native_paths.start_native_export(
            self._source,
            table_arn=self._table_arn(),
            bucket=self._bucket,
            prefix=prefix,
            bucket_owner=self._owner,
            sse=self._sse,
            kms_key=self._kms_key,
            extra=incremental_request(start, end, token=f"{self._run_id}/{slot}"),
            errors={"InvalidExportTimeException": _refused(self._table, start, end)},
        )

    def wait_export(self, export_id: str) -> str:
        try:
            description = native_paths.wait_native_export(
                self._source, export_id, clock=self._clock, timeout=EXPORT_TIMEOUT
            )
        except ExportFailedError as exc:
            raise ExportFailedError(
                f"the bridge's incremental export failed: {exc}",
                hint="check that the staging bucket exists, that --bucket-owner names its "
                "owner and that the source identity may write to it (and use its KMS key); "
                "then run the same command again: the bridge starts this export again",
            ) from exc
        folder = native_paths.find_export_dir(self._reader, description, bucket_owner=self._owner)
        return folder[len(self._prefix) + 1 :] if self._prefix else folder

    def _recovery(self) -> dict[str, Any]:
        response = _dynamodb(
            self._source,
            "describe_continuous_backups",
            what=f"point-in-time recovery of table {self._table!r}",
            TableName=self._table,
        )
        backups = response.get("ContinuousBackupsDescription") or {}
        return dict(backups.get("PointInTimeRecoveryDescription") or {})

    def _table_arn(self) -> str:
        response = _dynamodb(
            self._source, "describe_table", what=f"table {self._table!r}", TableName=self._table
        )
        return str(response["Table"]["TableArn"])


def incremental_request(start: float, end: float, *, token: str) -> dict[str, Any]:
    """The fields that make ExportTableToPointInTime an incremental export of
    ``[start, end)`` (epoch seconds), repeated starts with ``token`` the same export."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    return {
        "ExportType": "INCREMENTAL_EXPORT",
        "IncrementalExportSpecification": {
            "ExportFromTime": datetime.fromtimestamp(start, UTC),
            "ExportToTime": datetime.fromtimestamp(end, UTC),
            "ExportViewType": VIEW_TYPE,
        },
        "ClientToken": f"ddbmigrate-bridge-{digest}",
    }


_RESTART = (
    "start the live migration again with a new run (ddbmigrate migrate --live); keep "
    "point-in-time recovery on for the source while it runs and the tool bridges such a "
    "gap itself"
)


def pitr_off(table: str, gap: Exception) -> StreamTrimmedError:
    """The error for a gap in the stream of a table without point-in-time recovery."""
    return StreamTrimmedError(
        f"{gap}; point-in-time recovery is off on table {table!r}, so no incremental export "
        "can bring those changes back: they are gone",
        hint="start the live migration again with a new run (ddbmigrate migrate --live); turn "
        "on point-in-time recovery for the source before it (`aws dynamodb "
        f"update-continuous-backups --table-name {table} --point-in-time-recovery-"
        "specification PointInTimeRecoveryEnabled=true`) and the tool bridges such a gap "
        "itself (README: Live migration)",
    )


def _refused(table: str, start: float, end: float) -> StreamTrimmedError:
    return StreamTrimmedError(
        f"AWS refused the incremental export of table {table!r} from {_iso(start)} to "
        f"{_iso(end)} (InvalidExportTimeException): the window is not within its "
        "point-in-time recovery window",
        hint=_RESTART,
    )


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
