"""AWS's managed export and import, opt-in (DESIGN.md, "AWS's managed paths are options").

- **Export** (``--export-method native``): ExportTableToPointInTime writes the native layout
  (FORMATS.md section 1) into the staging bucket without consuming read capacity; it needs
  point-in-time recovery on the source table and is billed per GB of table.
- **Import** (``--import-method native``): ImportTable creates a *new* table and loads it from
  S3 without consuming write capacity. It cannot create LSIs, and leaves out TTL, tags, PITR,
  streams, deletion protection and table class: :func:`apply_after_import` sets those after.

The default path (parallel Scan, our own writer, BatchWriteItem) needs none of this and works
on every table; these functions are what the CLI calls when the user chooses AWS's services.

What moto (5.2.x) does differently from AWS, measured by listing the bucket after a moto
export; the code follows AWS and only tolerates moto:

- ExportArn: AWS ``arn:aws:dynamodb:R:<table account>:table/T/export/01700000000000-abcd1234``;
  moto ``arn:aws:dynamodb:R:<bucket-owner account>:table/<whole table ARN>/import/<uuid hex>``.
- Folder: AWS writes ``<S3Prefix>/AWSDynamoDB/<export id>/`` (the ARN's last component) with
  ``_started``, ``manifest-summary.json``/``manifest-files.json`` (+ ``.md5``) and
  ``data/*.json.gz``, and DescribeExport names ``ExportManifest``. moto writes one file,
  ``<S3Prefix>/AWSDynamoDB/<uuid4>/data/<uuid4>.gz``, under a UUID unrelated to the ARN, with
  no manifest, and DescribeExport has no ExportManifest (nor StartTime/EndTime/ExportTime).
  So :func:`find_export_dir` falls back to the only folder below ``<S3Prefix>/AWSDynamoDB/``.
- moto requires S3Prefix (it answers HTTP 500 without one); AWS makes it optional.
- moto's ImportTable ignores S3BucketOwner, SSESpecification and OnDemandThroughput, and turns
  an import with rejected items into FAILED; AWS completes it and counts them in ErrorCount.
  Its JSON reader (py_partiql_parser 0.6) silently drops the first line holding an empty map
  ``{"M": {}}`` and every later line of that file, and still says COMPLETED: the
  ``expected_items`` check of :func:`wait_native_import` turns that into an error.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, Literal

from botocore.exceptions import ClientError

from ddbmigrate.aws.dynamodb import DynamoAdmin, json_safe
from ddbmigrate.aws.errors import translate
from ddbmigrate.aws.session import SideSession
from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import (
    ConfigError,
    DdbMigrateError,
    ExportFailedError,
    FatalError,
    NotFoundError,
    RejectedItemError,
)
from ddbmigrate.formats.native import DATA_DIR, EXPORTS_DIR, MANIFEST_SUMMARY
from ddbmigrate.ports import Clock, TableSchema
from ddbmigrate.retry import RetryPolicy, call_with_retry

ExportFormat = Literal["DYNAMODB_JSON", "ION"]
InputCompression = Literal["GZIP", "ZSTD", "NONE"]

POLL_SECONDS = 10.0
"""Between two DescribeExport/DescribeImport calls: both jobs take minutes, not seconds."""
# A wait of hours must not die of one throttled or dropped Describe call, and
# UpdateContinuousBackups can briefly refuse a table that has just been created.
_RETRY = RetryPolicy(max_attempts=8, base_delay=1.0, max_delay=30.0)

# --sse as the S3 store spells it -> ExportTableToPointInTime's S3SseAlgorithm.
_EXPORT_SSE = {"AES256": "AES256", "aws:kms": "KMS", "KMS": "KMS"}
# What ImportTable's TableCreationParameters accepts of a CreateTable request.
_IMPORTABLE_FIELDS = (
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "OnDemandThroughput",
    "SSESpecification",
    "GlobalSecondaryIndexes",
)
_EXPORT_PENDING = frozenset({"IN_PROGRESS"})
_IMPORT_PENDING = frozenset({"IN_PROGRESS", "CANCELLING"})
_SCAN_EXPORT_HINT = "or use the default scan export (--export-method scan), which needs no PITR"


# --- export -----------------------------------------------------------------------------------


def start_native_export(
    session: SideSession,
    *,
    table_arn: str,
    bucket: str,
    prefix: str,
    bucket_owner: str | None,
    sse: str | None,
    kms_key: str | None,
    export_format: ExportFormat = "DYNAMODB_JSON",
    extra: Mapping[str, Any] | None = None,
    errors: Mapping[str, DdbMigrateError] | None = None,
) -> str:
    """Start ExportTableToPointInTime of ``table_arn`` into ``s3://bucket/prefix``; its ARN.

    ``bucket_owner`` is required by AWS when the bucket belongs to another account (the usual
    case: the destination owns the staging bucket). ``sse`` is ``AES256`` or ``aws:kms``.
    ``extra`` adds request fields (an incremental export's, ``aws.change_exports``) and
    ``errors`` replaces the translation of AWS error codes.
    """
    request: dict[str, Any] = {
        "TableArn": table_arn,
        "S3Bucket": bucket,
        "ExportFormat": _checked(export_format, ("DYNAMODB_JSON", "ION"), "export format"),
    }
    if prefix.strip("/"):
        request["S3Prefix"] = prefix.strip("/")
    if bucket_owner:
        request["S3BucketOwner"] = bucket_owner
    request.update(_export_sse(sse, kms_key))
    request.update(extra or {})
    response = _dynamodb(
        session,
        "export_table_to_point_in_time",
        what=f"export of table {_table_name(table_arn)!r} to s3://{bucket}/{prefix.strip('/')}",
        resource=table_arn,
        errors={
            "PointInTimeRecoveryUnavailableException": pitr_required(table_arn),
            "TableNotFoundException": NotFoundError(
                f"source table {table_arn} does not exist",
                hint="check --source-table, --source-region and the source credentials",
            ),
            **(errors or {}),
        },
        **request,
    )
    return str(response["ExportDescription"]["ExportArn"])


def pitr_required(table_arn: str) -> FatalError:
    """The error for a native export of a table without point-in-time recovery."""
    table = _table_name(table_arn)
    return FatalError(
        f"table {table!r} has no point-in-time recovery (PITR), which "
        "ExportTableToPointInTime (--export-method native) requires",
        hint="enable it with the source account's credentials and region: `aws dynamodb "
        f"update-continuous-backups --table-name {table} --point-in-time-recovery-specification "
        f"PointInTimeRecoveryEnabled=true` (PITR is billed per GB-month), {_SCAN_EXPORT_HINT}",
    )


def wait_native_export(
    session: SideSession,
    export_arn: str,
    *,
    clock: Clock,
    timeout: float,
    poll: float = POLL_SECONDS,
) -> dict[str, Any]:
    """Poll DescribeExport until COMPLETED; return the description (timestamps as ISO text).

    FAILED raises FatalError with AWS's FailureCode and FailureMessage; ``timeout`` seconds
    without an end raise FatalError too (the export keeps running in AWS).
    """
    description = _poll(
        lambda: _describe_export(session, export_arn),
        status_field="ExportStatus",
        pending=_EXPORT_PENDING,
        clock=clock,
        timeout=timeout,
        poll=poll,
        on_timeout=lambda d: _still_running("export", export_arn, d["ExportStatus"], timeout),
    )
    if description["ExportStatus"] != "COMPLETED":
        raise _export_failed(description)
    return description


def export_dir_of(description: Mapping[str, Any]) -> str:
    """The export's folder as a key prefix in its bucket: ``<S3Prefix>/AWSDynamoDB/<id>``.

    The id is the last component of ExportArn, or, when DescribeExport names ExportManifest
    (``…/AWSDynamoDB/<id>/manifest-summary.json``), the component after ``AWSDynamoDB`` there:
    that is where AWS really wrote the files. No trailing slash.
    """
    export_id = _id_from_manifest(description.get("ExportManifest")) or _id_from_arn(
        str(description.get("ExportArn") or "")
    )
    prefix = str(description.get("S3Prefix") or "").strip("/")
    folder = f"{EXPORTS_DIR}/{export_id}"
    return f"{prefix}/{folder}" if prefix else folder


def find_export_dir(
    session: SideSession, description: Mapping[str, Any], *, bucket_owner: str | None
) -> str:
    """:func:`export_dir_of`, checked against the bucket (``session`` must be allowed to list it).

    When the folder is absent and DescribeExport named no ExportManifest (moto: its folder is
    a UUID unrelated to the ARN), the only folder below ``<S3Prefix>/AWSDynamoDB/`` is taken;
    with several the export cannot be told apart and NotFoundError says so.
    """
    bucket = str(description["S3Bucket"])
    expected = export_dir_of(description)
    if _folders(session, bucket, expected + "/", bucket_owner, limit=1):
        return expected
    parent = expected.rsplit("/", 1)[0] + "/"
    found = (
        [] if description.get("ExportManifest") else _folders(session, bucket, parent, bucket_owner)
    )
    if len(found) == 1:
        return found[0]
    raise NotFoundError(
        f"export {description.get('ExportArn')} is COMPLETED but s3://{bucket}/{expected}/ "
        f"holds nothing ({len(found)} other folders below s3://{bucket}/{parent})",
        hint="give each native export a staging prefix of its own, and check that the bucket "
        "is the one the export wrote to",
    )


def data_prefix_of(export_dir: str) -> str:
    """ImportTable's S3KeyPrefix for an export folder: only its data files, not its manifests."""
    return f"{export_dir.strip('/')}/{DATA_DIR}/"


# --- import -----------------------------------------------------------------------------------


def check_importable(create_request: Mapping[str, Any]) -> list[str]:
    """Refuse what ImportTable cannot create; list what must be applied after the import.

    ``create_request`` is ``ddbmigrate.schema.create_table_request`` output.
    """
    name = create_request.get("TableName")
    lsis = [str(i.get("IndexName")) for i in create_request.get("LocalSecondaryIndexes") or []]
    if lsis:
        raise FatalError(
            f"ImportTable cannot create local secondary indexes, and table {name!r} has "
            f"{len(lsis)}: {', '.join(repr(n) for n in lsis)}",
            hint="use the default --import-method batch, which creates the table with its LSIs "
            "and then writes the items",
        )
    return _settings_after_import(create_request)


def table_creation_parameters(create_request: Mapping[str, Any]) -> dict[str, Any]:
    """ImportTable's TableCreationParameters from a CreateTable request (the fields it takes)."""
    return {k: create_request[k] for k in _IMPORTABLE_FIELDS if k in create_request}


def start_native_import(
    session: SideSession,
    *,
    bucket: str,
    key_prefix: str,
    bucket_owner: str | None,
    input_format: ExportFormat,
    compression: InputCompression,
    create_request: Mapping[str, Any],
) -> str:
    """Start ImportTable from ``s3://bucket/key_prefix`` into a new table; return its ARN.

    ``key_prefix`` should select data files only (:func:`data_prefix_of`); AWS reads at most
    50,000 objects per import. The table must not exist yet.
    """
    check_importable(create_request)
    name = str(create_request["TableName"])
    source = {"S3Bucket": bucket, "S3KeyPrefix": key_prefix}
    if bucket_owner:
        source["S3BucketOwner"] = bucket_owner
    response = _dynamodb(
        session,
        "import_table",
        what=f"import of s3://{bucket}/{key_prefix} into table {name!r}",
        errors={"ResourceInUseException": _table_exists(name)},
        S3BucketSource=source,
        InputFormat=_checked(input_format, ("DYNAMODB_JSON", "ION"), "input format"),
        InputCompressionType=_checked(compression, ("GZIP", "ZSTD", "NONE"), "compression"),
        TableCreationParameters=table_creation_parameters(create_request),
    )
    return str(response["ImportTableDescription"]["ImportArn"])


def wait_native_import(
    session: SideSession,
    import_arn: str,
    *,
    clock: Clock,
    timeout: float,
    poll: float = POLL_SECONDS,
    expected_items: int | None = None,
) -> dict[str, Any]:
    """Poll DescribeImport until COMPLETED; return the description (timestamps as ISO text).

    FAILED or CANCELLED raise FatalError with the reason and the counts. A COMPLETED import
    whose ErrorCount is not 0 raises RejectedItemError (AWS skipped those items and logged
    them to CloudWatch), and one that imported other than ``expected_items`` FatalError:
    a finished import must not hide lost items.
    """
    description = _poll(
        lambda: _describe_import(session, import_arn),
        status_field="ImportStatus",
        pending=_IMPORT_PENDING,
        clock=clock,
        timeout=timeout,
        poll=poll,
        on_timeout=lambda d: _still_running("import", import_arn, d["ImportStatus"], timeout),
    )
    if description["ImportStatus"] != "COMPLETED":
        raise _import_failed(description)
    _check_import_counts(description, expected_items)
    return description


def apply_after_import(
    admin: DynamoAdmin,
    table: str,
    schema: TableSchema,
    *,
    clock: Clock | None = None,
    timeout: float = 1800.0,
) -> list[str]:
    """Give an imported table what ImportTable cannot: TTL, tags, PITR, stream, table class,
    deletion protection, as ``schema`` (the source's) has them. Returns what was applied.

    Each UpdateTable leaves the table UPDATING and AWS refuses the next until it is ACTIVE
    again, so the steps run one at a time with a wait after each. Deletion protection comes
    last: if a step fails, the half-configured table can still be deleted and imported again.
    """
    clock = clock or SystemClock()
    rng = random.Random()
    admin.wait_active(table, timeout=timeout)
    applied: list[str] = []
    for label, step, updates_table in _after_import_steps(admin, table, schema):
        call_with_retry(step, policy=_RETRY, clock=clock, rng=rng)
        if updates_table:
            admin.wait_active(table, timeout=timeout)
        applied.append(label)
    return applied


# --- helpers ----------------------------------------------------------------------------------


def _dynamodb(
    session: SideSession,
    method: str,
    *,
    what: str,
    resource: str | None = None,
    errors: Mapping[str, DdbMigrateError] | None = None,
    **kwargs: Any,
) -> Any:
    """One boto3 DynamoDB call; ``errors`` replaces the translation of specific AWS codes."""
    operation = "".join(part.title() for part in method.split("_"))
    try:
        return getattr(session.client("dynamodb"), method)(**kwargs)
    except DdbMigrateError:
        raise
    except Exception as exc:
        special = (errors or {}).get(_error_code(exc) or "")
        if special is not None:
            raise special from exc
        raise translate(exc, what=what, action=f"dynamodb:{operation}", resource=resource) from exc


def _error_code(exc: Exception) -> str | None:
    if isinstance(exc, ClientError):
        return str((exc.response or {}).get("Error", {}).get("Code") or "") or None
    return None


def _checked(value: str, allowed: tuple[str, ...], what: str) -> str:
    # The Literal types guard typed callers; this guards values that come from flags.
    if value not in allowed:
        raise ConfigError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


def _export_sse(sse: str | None, kms_key: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if sse:
        if sse not in _EXPORT_SSE:
            raise ConfigError(f"--sse {sse!r} is not AES256 or aws:kms")
        out["S3SseAlgorithm"] = _EXPORT_SSE[sse]
    if kms_key:
        out["S3SseAlgorithm"] = "KMS"
        out["S3SseKmsKeyId"] = kms_key
    return out


def _table_name(table_arn: str) -> str:
    """``arn:aws:dynamodb:R:A:table/NAME`` -> NAME (the ARN itself when it is not one)."""
    _, _, rest = table_arn.partition(":table/")
    return rest.split("/", 1)[0] if rest else table_arn


def _id_from_manifest(manifest: Any) -> str | None:
    if not isinstance(manifest, str):
        return None
    parts = manifest.strip("/").split("/")
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == EXPORTS_DIR and parts[index + 1] != MANIFEST_SUMMARY:
            return parts[index + 1]
    return None


def _id_from_arn(export_arn: str) -> str:
    export_id = export_arn.rstrip("/").rsplit("/", 1)[-1]
    if not export_id or ":" in export_id:
        raise FatalError(f"cannot tell the export id from ExportArn {export_arn!r}")
    return export_id


def _folders(
    session: SideSession, bucket: str, prefix: str, owner: str | None, *, limit: int = 1000
) -> list[str]:
    """Sub-folders (``CommonPrefixes``, without the slash) and objects right below ``prefix``."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
    if owner:
        kwargs["ExpectedBucketOwner"] = owner
    try:
        page = session.client("s3").list_objects_v2(MaxKeys=limit, **kwargs)
    except Exception as exc:
        what = f"s3://{bucket}/{prefix}"
        raise translate(
            exc, what=what, action="s3:ListBucket", resource=f"arn:aws:s3:::{bucket}"
        ) from exc
    folders = [str(p["Prefix"]).rstrip("/") for p in page.get("CommonPrefixes", [])]
    return folders + [str(o["Key"]) for o in page.get("Contents", [])]


def _poll(
    describe: Callable[[], dict[str, Any]],
    *,
    status_field: str,
    pending: frozenset[str],
    clock: Clock,
    timeout: float,
    poll: float,
    on_timeout: Callable[[dict[str, Any]], DdbMigrateError],
) -> dict[str, Any]:
    """Call ``describe`` until its status leaves ``pending`` or ``timeout`` seconds pass."""
    rng = random.Random()
    deadline = clock.monotonic() + timeout
    while True:
        description = call_with_retry(describe, policy=_RETRY, clock=clock, rng=rng)
        if description.get(status_field) not in pending:
            return description
        left = deadline - clock.monotonic()
        if left <= 0:
            raise on_timeout(description)
        clock.sleep(min(poll, left))


def _describe_export(session: SideSession, export_arn: str) -> dict[str, Any]:
    response = _dynamodb(
        session,
        "describe_export",
        what=f"export {export_arn}",
        resource=export_arn,
        errors={"ExportNotFoundException": NotFoundError(f"export {export_arn} does not exist")},
        ExportArn=export_arn,
    )
    return json_safe(response["ExportDescription"])  # type: ignore[no-any-return]


def _describe_import(session: SideSession, import_arn: str) -> dict[str, Any]:
    response = _dynamodb(
        session,
        "describe_import",
        what=f"import {import_arn}",
        resource=import_arn,
        errors={"ImportNotFoundException": NotFoundError(f"import {import_arn} does not exist")},
        ImportArn=import_arn,
    )
    return json_safe(response["ImportTableDescription"])  # type: ignore[no-any-return]


def _still_running(kind: str, arn: str, status: str, timeout: float) -> FatalError:
    command = "describe-export --export-arn" if kind == "export" else "describe-import --import-arn"
    return FatalError(
        f"{kind} {arn} is still {status} after {timeout:.0f} s",
        hint=f"it keeps running in AWS; follow it with `aws dynamodb {command} {arn}`",
    )


def _export_failed(description: Mapping[str, Any]) -> ExportFailedError:
    return ExportFailedError(
        f"export {description.get('ExportArn')} of table "
        f"{_table_name(str(description.get('TableArn', '')))!r} is "
        f"{description.get('ExportStatus')}: {description.get('FailureCode') or 'no code'}: "
        f"{description.get('FailureMessage') or 'no message'}",
        hint="check that the bucket exists, that --bucket-owner names its owner and that the "
        f"source identity may write to it (and use its KMS key), {_SCAN_EXPORT_HINT}",
    )


def _counts(description: Mapping[str, Any]) -> str:
    return (
        f"processed {description.get('ProcessedItemCount', 0)}, "
        f"imported {description.get('ImportedItemCount', 0)}, "
        f"errors {description.get('ErrorCount', 0)}"
    )


def _logs_hint(description: Mapping[str, Any]) -> str:
    group = description.get("CloudWatchLogGroupArn")
    where = f"CloudWatch log group {group}" if group else "CloudWatch Logs"
    return f"ImportTable logs each refused item to {where}"


def _import_failed(description: Mapping[str, Any]) -> FatalError:
    table = _table_name(str(description.get("TableArn", "")))
    return FatalError(
        f"import {description.get('ImportArn')} into table {table!r} is "
        f"{description.get('ImportStatus')}: {description.get('FailureCode') or 'no code'}: "
        f"{description.get('FailureMessage') or 'no message'} ({_counts(description)})",
        hint=f"{_logs_hint(description)}; delete table {table!r} if it exists and import again, "
        "or use the default --import-method batch, which names each bad line",
    )


def _check_import_counts(description: Mapping[str, Any], expected: int | None) -> None:
    table = _table_name(str(description.get("TableArn", "")))
    errors = int(description.get("ErrorCount") or 0)
    if errors:
        raise RejectedItemError(
            f"import {description.get('ImportArn')} into table {table!r} COMPLETED but "
            f"skipped {errors} items ({_counts(description)})",
            hint=_logs_hint(description),
        )
    imported = int(description.get("ImportedItemCount") or 0)
    if expected is not None and imported != expected:
        raise FatalError(
            f"import into table {table!r} imported {imported} items but the export holds "
            f"{expected} ({_counts(description)})",
            hint="check that the import's S3KeyPrefix selects this export's data files only",
        )


def _table_exists(name: str) -> FatalError:
    return FatalError(
        f"table {name!r} already exists, and ImportTable creates new tables only",
        hint="pass --dest-table NEW, or use the default --import-method batch (with "
        "--into-existing to write into the existing table)",
    )


def _settings_after_import(request: Mapping[str, Any]) -> list[str]:
    """Human labels of the CreateTable settings ImportTable drops (TTL/PITR are not in it)."""
    later: list[str] = []
    if tags := request.get("Tags"):
        later.append(f"{len(tags)} tags")
    if stream := request.get("StreamSpecification"):
        later.append(f"stream {stream.get('StreamViewType')}")
    if request.get("TableClass") not in (None, "STANDARD"):
        later.append(f"table class {request['TableClass']}")
    if request.get("DeletionProtectionEnabled"):
        later.append("deletion protection")
    return later


Step = tuple[str, Callable[[], None], bool]
"""(label, action, whether it is an UpdateTable that leaves the table UPDATING)."""


def _after_import_steps(admin: DynamoAdmin, table: str, schema: TableSchema) -> list[Step]:
    desc = schema.description
    steps: list[Step] = []
    if attr := schema.ttl_attribute:
        steps.append((f"TTL on {attr!r}", lambda: admin.enable_ttl(table, attr), False))
    if tags := schema.tags:
        steps.append((f"{len(tags)} tags", lambda: admin.tag_table(table, tags), False))
    if schema.pitr_enabled:
        steps.append(("point-in-time recovery", lambda: admin.enable_pitr(table), False))
    stream = desc.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        view = str(stream["StreamViewType"])
        steps.append((f"stream {view}", lambda: admin.enable_stream(table, view), True))
    table_class = (desc.get("TableClassSummary") or {}).get("TableClass")
    if table_class not in (None, "STANDARD"):
        cls = str(table_class)
        steps.append((f"table class {cls}", lambda: admin.set_table_class(table, cls), True))
    if desc.get("DeletionProtectionEnabled"):
        protect = lambda: admin.set_deletion_protection(table, on=True)  # noqa: E731
        steps.append(("deletion protection", protect, True))
    return steps
