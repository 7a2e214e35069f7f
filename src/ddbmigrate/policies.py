"""Least-privilege IAM for one migration: the source role, the destination role, the bucket.

``ddbmigrate policies`` prints (or writes) three JSON documents with every ARN filled in from
a :class:`PolicyPlan`. Each statement allows exactly what a code path of ``migrate`` calls,
and its Sid says why; ``tests/integration/test_policies.py`` records every request of a real
run against the embedded AWS and checks both directions (every call allowed, every action
used). What the documents do **not** cover, on purpose:

- ``sts:AssumeRole`` into the two roles: that is the caller's permission (and each role's
  trust policy), not the roles'.
- ``s3:GetBucketLocation``: the tool never calls it. HeadBucket (the preflight's check of the
  bucket and its owner) is authorised as ``s3:ListBucket``.
- ``s3:PutObjectAcl``: the tool never calls PutObjectAcl; the canned ACL it sends with a
  PUT into a bucket that still uses ACLs is authorised as ``s3:PutObject`` (its
  ``s3:x-amz-acl`` condition key; ADR 0017). Only AWS's own export (``--export-method
  native``) is documented to need it.
- ``/index/*`` and ``/stream/*`` ARNs: the tool reads no index and no stream; creating a
  table with GSIs, LSIs or a stream is authorised on the table itself.
- Key policies: a KMS key in the destination account must also let the source role use it
  (the IAM statements here are only half of a cross-account grant).

Core module: no AWS SDK; files are written with pathlib.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ddbmigrate.errors import ConfigError
from ddbmigrate.model import StoreURL

PolicyDocument = dict[str, Any]
Statement = dict[str, Any]
RenderFormat = Literal["json", "text"]

VERSION = "2012-10-17"
SOURCE_ROLE_FILE = "source-role-policy.json"
DEST_ROLE_FILE = "dest-role-policy.json"
BUCKET_POLICY_FILE = "staging-bucket-policy.json"

# Where the run ledger keeps its files below the staging prefix (checkpoint.py, runs.py).
_RUNS = "ddbmigrate/runs"
_LOCKS = "ddbmigrate/locks"  # the plan locks (checkpoint.py, ADR 0016)
_PREFLIGHT = "ddbmigrate/preflight"
# Where --export-method native points ExportTableToPointInTime (wiring.managed.native_export).
_NATIVE = "native"

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:(iam::\d{12}:role/.+|sts::\d{12}:assumed-role/.+)$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):")


def account_in_arn(arn: str | None) -> str | None:
    """The account id an IAM/STS ARN names (``arn:aws:iam::ACCOUNT:role/NAME``), else None:
    the policies a role needs are written before the role (or any credentials) exist."""
    match = _ARN_ACCOUNT.match(arn or "")
    return match.group(1) if match else None


@dataclass(frozen=True, kw_only=True, slots=True)
class PolicyPlan:
    """What a migration touches and how: everything that changes the permissions it needs."""

    source_account: str
    """Account id of the source tables (and of the source role)."""
    dest_account: str
    """Account id of the destination tables, the destination role and the staging bucket."""
    source_region: str
    """Region of the source tables."""
    dest_region: str
    """Region of the destination tables (and of ImportTable's CloudWatch log groups)."""
    source_tables: tuple[str, ...]
    """Tables read, in the order of ``dest_tables``."""
    dest_tables: tuple[str, ...]
    """Tables written; one per source table."""
    bucket: str
    """Staging bucket, owned by the destination account."""
    prefix: str = ""
    """Staging key prefix without slashes at either end; empty for the whole bucket."""
    source_role_arn: str | None = None
    """Principal the bucket policy lets in; None grants the source account's root, which
    leaves the choice of principals to the source account's IAM."""
    export_method: Literal["scan", "native"] = "scan"
    """scan (parallel Scan) or native (ExportTableToPointInTime)."""
    import_method: Literal["batch", "native", "bulk"] = "batch"
    """batch (CreateTable + BatchWriteItem) or native (ImportTable)."""
    validate: bool = True
    """Whether the run scans both tables at the end (the default)."""
    live: bool = False
    """A live migration (``--live``): the source role also enables, reads and disables the
    source's stream and writes the cutover's sentinel item."""
    sse: Literal["AES256", "aws:kms"] | None = None
    """Server-side encryption asked for the staging objects."""
    sse_kms_key_id: str | None = None
    """KMS key (id, ARN or alias) of the staging objects with ``sse="aws:kms"``; None is the
    bucket owner's ``aws/s3`` key, whose key policy admits callers of its own account only."""
    dest_kms_key_id: str | None = None
    """Customer managed KMS key (id, ARN or alias) of the destination tables."""
    bucket_owner_from_sts: bool = True
    """True when the destination account id is learned with sts:GetCallerIdentity; False when
    it is given (``--bucket-owner``)."""
    partition: str = "aws"
    """ARN partition: aws, aws-cn, aws-us-gov."""
    boost: bool = False
    """The run raises the destination's write capacity (``--boost``)."""
    boost_source: bool = False
    """The run raises the source's read capacity (``--boost-source``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        for flag, account in (("source", self.source_account), ("dest", self.dest_account)):
            if not _ACCOUNT.match(account):
                raise ConfigError(f"--{flag}-account {account!r} is not a 12-digit account id")
        for flag, region in (("source", self.source_region), ("dest", self.dest_region)):
            if not _REGION.match(region):
                raise ConfigError(f"--{flag}-region {region!r} is not an AWS region name")
        self._check_tables()
        if not _BUCKET.match(self.bucket):
            raise ConfigError(f"staging bucket {self.bucket!r} is not a valid S3 bucket name")
        if self.source_role_arn is not None and not _ROLE_ARN.match(self.source_role_arn):
            raise ConfigError(
                f"--source-role-arn {self.source_role_arn!r} is not a role ARN",
                hint="write it as arn:aws:iam::ACCOUNT:role/NAME",
            )
        if self.export_method not in ("scan", "native"):
            raise ConfigError(f"--export-method {self.export_method!r} is not scan or native")
        if self.import_method not in ("batch", "native", "bulk"):
            raise ConfigError(
                f"--import-method {self.import_method!r} is not batch, native or bulk"
            )
        if self.sse not in (None, "AES256", "aws:kms"):
            raise ConfigError(f"--sse {self.sse!r} is not AES256 or aws:kms")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise ConfigError("--sse-kms-key-id needs --sse aws:kms")

    def _check_tables(self) -> None:
        if not self.source_tables or len(self.source_tables) != len(self.dest_tables):
            raise ConfigError(
                f"{len(self.source_tables)} source table(s) but {len(self.dest_tables)} "
                "destination table(s)",
                hint="give one --dest-table per --source-table (or none: same names)",
            )
        for name in (*self.source_tables, *self.dest_tables):
            if not _TABLE.match(name):
                raise ConfigError(f"table name {name!r} is not a valid DynamoDB table name")

    @classmethod
    def for_staging(cls, staging: str, **fields: Any) -> PolicyPlan:
        """A plan whose bucket and prefix come from an ``s3://bucket/prefix/`` URL."""
        url = StoreURL.parse(staging)
        if url.scheme != "s3":
            raise ConfigError(
                f"--staging {staging!r} is not an s3:// URL",
                hint="a local staging directory needs no S3 or bucket policy",
            )
        return cls(bucket=url.bucket, prefix=url.prefix, **fields)


# --- the three documents --------------------------------------------------------------------


def source_role_policy(plan: PolicyPlan) -> PolicyDocument:
    """The source role's identity policy: read the tables, write the staging prefix."""
    statements = [
        _allow(
            "DescribeSourceTableForSchemaAndCapacity",
            [
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:DescribeTable",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:ListTagsOfResource",
            ],
            _tables(plan, source=True),
        )
    ]
    if plan.export_method == "scan" or plan.validate:
        sid = {
            (True, True): "ScanSourceTableToExportAndValidate",
            (True, False): "ScanSourceTableToExport",
            (False, True): "ScanSourceTableToValidate",
        }[(plan.export_method == "scan", plan.validate)]
        statements.append(_allow(sid, ["dynamodb:Scan"], _tables(plan, source=True)))
    if plan.export_method == "native":
        statements += [
            _allow(
                "StartNativeExportOfSourceTable",
                ["dynamodb:ExportTableToPointInTime"],
                _tables(plan, source=True),
            ),
            _allow(
                "FollowNativeExport",
                ["dynamodb:DescribeExport"],
                _tables(plan, source=True, suffix="/export/*"),
            ),
        ]
    if plan.live:
        statements += live_source_statements(plan)
    statements += _source_s3_statements(plan)
    if plan.sse == "aws:kms" and plan.sse_kms_key_id:
        statements.append(
            _kms(
                "EncryptStagingObjectsWithKmsKey",
                # GenerateDataKey for each PUT; Decrypt to complete multipart uploads and to
                # read the run ledger back.
                ["kms:Decrypt", "kms:GenerateDataKey"],
                plan,
                plan.sse_kms_key_id,
            )
        )
    if plan.boost_source:
        statements += boost_statements(plan, source=True)
    return _document(statements)


def live_source_statements(plan: PolicyPlan) -> list[Statement]:
    """What ``migrate --live``, ``sync`` and ``cutover`` add to the source role: the stream
    enabled before the copy and disabled after the cutover (UpdateTable), read shard by
    shard, and the sentinel item the cutover writes and removes (BatchWriteItem is the only
    write call the tool makes). The destination writes as import does. Past the stream's
    24 hours the replay bridges with incremental exports (ADR 0045): ExportTableToPointInTime
    and DescribeExport, as ``--export-method native`` has them."""
    tables = _tables(plan, source=True)
    bridge = [] if plan.export_method == "native" else _bridge_statements(plan)
    return [
        *bridge,
        _allow("EnableAndDisableSourceStream", ["dynamodb:UpdateTable"], tables),
        _allow(
            "ReadSourceStreamForReplay",
            ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            _tables(plan, source=True, suffix="/stream/*"),
        ),
        _allow("WriteAndRemoveCutoverSentinel", ["dynamodb:BatchWriteItem"], tables),
    ]


def _bridge_statements(plan: PolicyPlan) -> list[Statement]:
    return [
        _allow(
            "BridgeStreamGapWithIncrementalExport",
            ["dynamodb:ExportTableToPointInTime"],
            _tables(plan, source=True),
        ),
        _allow(
            "FollowBridgeExport",
            ["dynamodb:DescribeExport"],
            _tables(plan, source=True, suffix="/export/*"),
        ),
    ]


def dest_role_policy(plan: PolicyPlan) -> PolicyDocument:
    """The destination role's identity policy: create and fill the tables, read the staging."""
    tables = _tables(plan, source=False)
    statements = [
        _allow(
            "DescribeDestTableForPreflightWaitsAndCapacity",
            [
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:DescribeTable",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:ListTagsOfResource",
            ],
            tables,
        ),
        _allow(
            "ScanDestTableToCheckEmptyAndValidate"
            if plan.validate
            else "ScanDestTableToCheckEmpty",
            ["dynamodb:Scan"],
            tables,
        ),
    ]
    statements += _dest_table_writes(plan, tables)
    if plan.bucket_owner_from_sts:
        # GetCallerIdentity has no resource type: "*" is the only Resource AWS accepts.
        statements.append(
            _allow("LearnDestAccountIdForExpectedBucketOwner", ["sts:GetCallerIdentity"], "*")
        )
    statements += _dest_s3_statements(plan)
    statements += _dest_kms_statements(plan)
    if plan.import_method == "bulk":
        statements += bulk_import_statements(plan)
    if plan.boost:
        statements += boost_statements(plan, source=False)
    return _document(statements)


def bucket_policy(plan: PolicyPlan) -> PolicyDocument:
    """The staging bucket's policy: the source role's S3 statements, granted by the bucket.

    The bucket belongs to the destination account, so a request of the source role needs
    both its own identity policy and this resource policy to allow it. The destination role
    needs nothing here: its identity policy suffices in its own account.
    """
    principal = plan.source_role_arn or f"arn:{plan.partition}:iam::{plan.source_account}:root"
    statements = [
        {**statement, "Sid": f"SourceRole{statement['Sid']}", "Principal": {"AWS": principal}}
        for statement in _source_s3_statements(plan)
    ]
    return _document([_ordered(s) for s in statements])


def policies(plan: PolicyPlan) -> dict[str, PolicyDocument]:
    """All three documents, by the file name :func:`write_files` gives each."""
    return {
        SOURCE_ROLE_FILE: source_role_policy(plan),
        DEST_ROLE_FILE: dest_role_policy(plan),
        BUCKET_POLICY_FILE: bucket_policy(plan),
    }


def render(docs: Mapping[str, PolicyDocument], fmt: RenderFormat = "json") -> str:
    """The documents as one JSON object keyed by file name (``json``), or each under a
    ``# file name`` heading for people (``text``)."""
    if fmt == "json":
        return json.dumps(dict(docs), indent=2) + "\n"
    if fmt == "text":
        return "\n".join(f"# {name}\n{json.dumps(doc, indent=2)}\n" for name, doc in docs.items())
    raise ConfigError(f"policy format {fmt!r} is not json or text")


def write_files(docs: Mapping[str, PolicyDocument], directory: Path | str) -> list[Path]:
    """Write each document to ``directory/<name>`` (created if missing); the paths written."""
    folder = Path(directory)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, doc in docs.items():
            if Path(name).name != name:
                raise ConfigError(f"policy file name {name!r} must be a plain file name")
            path = folder / name
            path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise ConfigError(f"cannot write the policies to {str(folder)!r}: {exc}") from exc
    return written


# --- S3 -------------------------------------------------------------------------------------


def _source_s3_statements(plan: PolicyPlan) -> list[Statement]:
    """What the source role does in the staging bucket (identity and bucket policy alike)."""
    writes = ["s3:AbortMultipartUpload", "s3:PutObject"]
    # A PUT carrying x-amz-acl is authorised as s3:PutObject alone (ADR 0017); AWS documents
    # s3:PutObjectAcl for its own export (ExportTableToPointInTime) into another's bucket.
    if plan.export_method == "native" or plan.live:  # live: the bridge's exports
        writes.append("s3:PutObjectAcl")
    return [
        _list_prefix(plan, "ListStagingPrefixForRunLedger"),
        # Export parts, manifests, run ledger (run.json, segment records), plan lock and, for
        # a native export, AWS's own files below <prefix>/native/. AbortMultipartUpload is
        # for parts above 16 MiB whose upload fails, and for AWS's export.
        _allow("WriteExportsAndRunLedger", sorted(writes), _objects(plan, "*")),
        _allow("ReadRunLedgerToResume", ["s3:GetObject"], _objects(plan, "*")),
        # The preflight's write probe and the run's plan lock are the only objects it deletes.
        _allow(
            "DeletePreflightProbeAndPlanLock",
            ["s3:DeleteObject"],
            [_objects(plan, f"{_PREFLIGHT}/*"), _objects(plan, f"{_LOCKS}/*")],
        ),
    ]


def _dest_s3_statements(plan: PolicyPlan) -> list[Statement]:
    statements = [
        _list_prefix(plan, "ListStagingPrefixToFindExports"),
        # GetObject also answers HeadObject (does a manifest, a side file, the rejects file
        # exist); ImportTable reads the data files with the caller's permission too.
        _allow("ReadExportsAndManifests", ["s3:GetObject"], _objects(plan, "*")),
        # BucketOwnerEnforced (ACLs disabled) spares the source's writes their canned ACL.
        _allow(
            "ReadObjectOwnershipToSkipAcls",
            ["s3:GetBucketOwnershipControls"],
            f"arn:{plan.partition}:s3:::{plan.bucket}",
        ),
    ]
    if plan.import_method == "batch":
        statements.append(
            _allow("RecordRejectedItems", ["s3:PutObject"], _objects(plan, f"{_RUNS}/*/rejects/*"))
        )
    return statements


def _list_prefix(plan: PolicyPlan, sid: str) -> Statement:
    """s3:ListBucket inside the prefix; also HeadBucket, which sends no prefix at all.

    StringLikeIfExists: a listing must stay below the prefix, while HeadBucket (the
    preflight's check that the bucket exists and belongs to the expected account), which
    has no s3:prefix in its request context, is let through.
    """
    statement = _allow(sid, ["s3:ListBucket"], f"arn:{plan.partition}:s3:::{plan.bucket}")
    if plan.prefix:
        statement["Condition"] = {"StringLikeIfExists": {"s3:prefix": [f"{plan.prefix}/*"]}}
    return statement


def _objects(plan: PolicyPlan, below: str) -> str:
    key = f"{plan.prefix}/{below}" if plan.prefix else below
    return f"arn:{plan.partition}:s3:::{plan.bucket}/{key}"


# --- DynamoDB, logs, KMS ----------------------------------------------------------------------


def _dest_table_writes(plan: PolicyPlan, tables: list[str]) -> list[Statement]:
    settings = ["dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTimeToLive"]
    if plan.import_method == "batch":
        return [
            # CreateTable with Tags is also authorised as TagResource (tag on create).
            _allow(
                "CreateDestTableLikeSource",
                ["dynamodb:CreateTable", "dynamodb:TagResource"],
                tables,
            ),
            _allow("EnableTtlAndPitrLikeSource", settings, tables),
            _allow("WriteItems", ["dynamodb:BatchWriteItem"], tables),
        ]
    return [
        _allow("ImportDestTableFromStaging", ["dynamodb:ImportTable"], tables),
        _allow(
            "FollowImport",
            ["dynamodb:DescribeImport"],
            _tables(plan, source=False, suffix="/import/*"),
        ),
        # ImportTable sets none of these: TTL, tags, PITR, then stream, table class and
        # deletion protection (UpdateTable) are applied after it.
        _allow(
            "ApplySettingsImportTableCannotSet",
            sorted([*settings, "dynamodb:TagResource", "dynamodb:UpdateTable"]),
            tables,
        ),
        # ImportTable logs refused items to CloudWatch with the caller's permissions.
        _allow(
            "ImportTableLogsToCloudWatch",
            [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
                "logs:PutRetentionPolicy",
            ],
            f"arn:{plan.partition}:logs:{plan.dest_region}:{plan.dest_account}"
            ":log-group:/aws-dynamodb/*",
        ),
        # DescribeLogGroups has no resource type: a log-group ARN would never match it.
        _allow("ImportTableFindsItsLogGroup", ["logs:DescribeLogGroups"], "*"),
    ]


def _dest_kms_statements(plan: PolicyPlan) -> list[Statement]:
    statements = []
    if plan.sse == "aws:kms" and plan.sse_kms_key_id:
        actions = ["kms:Decrypt"]
        if plan.import_method == "batch":
            actions.append("kms:GenerateDataKey")  # the rejects file is written encrypted
        statements.append(_kms("DecryptStagingObjects", actions, plan, plan.sse_kms_key_id))
    if plan.dest_kms_key_id:
        statement = _kms(
            "UseDestTableKmsKeyThroughDynamoDB",
            # What DynamoDB asks of the principal creating and using a table encrypted with
            # a customer managed key; only through DynamoDB in the destination region.
            [
                "kms:CreateGrant",
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
            ],
            plan,
            plan.dest_kms_key_id,
        )
        via = {"kms:ViaService": f"dynamodb.{plan.dest_region}.amazonaws.com"}
        statement.setdefault("Condition", {}).setdefault("StringEquals", {}).update(via)
        statements.append(statement)
    return statements


def _kms(sid: str, actions: list[str], plan: PolicyPlan, key: str) -> Statement:
    """A KMS statement on ``key``: a key ARN, a key id, or an alias (matched by condition,
    since KMS authorises on the key an alias points to, not on the alias)."""
    if key.startswith("arn:"):
        if ":alias/" not in key:
            return _allow(sid, actions, key)
        head, _, alias = key.partition(":alias/")
        statement = _allow(sid, actions, f"{head}:key/*")
        alias = f"alias/{alias}"
    elif key.startswith("alias/"):
        resource = f"arn:{plan.partition}:kms:{plan.dest_region}:{plan.dest_account}:key/*"
        statement, alias = _allow(sid, actions, resource), key
    else:
        resource = f"arn:{plan.partition}:kms:{plan.dest_region}:{plan.dest_account}:key/{key}"
        return _allow(sid, actions, resource)
    statement["Condition"] = {"ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}}
    return statement


def _tables(plan: PolicyPlan, *, source: bool, suffix: str = "") -> list[str]:
    region, account, names = (
        (plan.source_region, plan.source_account, plan.source_tables)
        if source
        else (plan.dest_region, plan.dest_account, plan.dest_tables)
    )
    arns = [f"arn:{plan.partition}:dynamodb:{region}:{account}:table/{n}{suffix}" for n in names]
    return list(dict.fromkeys(arns))


# --- documents --------------------------------------------------------------------------------


def _allow(sid: str, actions: list[str], resource: str | list[str]) -> Statement:
    resources: str | list[str] = (
        resource[0] if isinstance(resource, list) and len(resource) == 1 else resource
    )
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}


def _ordered(statement: Statement) -> Statement:
    """Keys in the order people read a statement: Sid, Effect, Principal, Action, ..."""
    order = ("Sid", "Effect", "Principal", "Action", "Resource", "Condition")
    return {key: statement[key] for key in order if key in statement}


def _document(statements: list[Statement]) -> PolicyDocument:
    return {"Version": VERSION, "Statement": statements}


# --- bulk import and capacity boost (added to the role documents when the plan asks) -------


def bulk_import_statements(plan: PolicyPlan) -> list[Statement]:
    """What the destination role needs, beyond :func:`dest_role_policy`, to load an export
    with StartBulkPutItems (``ddbmigrate.bulk``). DynamoDB reads the data files and writes
    the error report with the caller's permissions, as ImportTable does; reading them is
    ReadExportsAndManifests already. The bulk operation's ARN format is not documented in
    the botocore model: it is assumed to be below its table's ARN (ADR 0034)."""
    return [
        _allow(
            "StartBulkLoadIntoDestTable",
            ["dynamodb:StartBulkPutItems"],
            _tables(plan, source=False),
        ),
        _allow(
            "FollowAndCancelBulkLoad",
            ["dynamodb:CancelBulkOperation", "dynamodb:DescribeBulkOperation"],
            _tables(plan, source=False, suffix="/*"),
        ),
        # The error report (written by DynamoDB) and the operation's record (ddbmigrate's).
        _allow(
            "WriteBulkErrorReportAndRecord", ["s3:PutObject"], _objects(plan, f"{_RUNS}/*/bulk/*")
        ),
    ]


def boost_statements(plan: PolicyPlan, *, source: bool) -> list[Statement]:
    """What a role needs, beyond its document, to raise and restore its tables' capacity
    (``ddbmigrate.boost``): UpdateTable, and the tables' Application Auto Scaling targets.
    Scalable target ARNs end in a random id, so RegisterScalableTarget goes on all of the
    account's targets, limited to DynamoDB's; DescribeScalableTargets has no resource type.
    DescribeTable is in both documents already."""
    side, region, account = (
        ("Source", plan.source_region, plan.source_account)
        if source
        else ("Dest", plan.dest_region, plan.dest_account)
    )
    targets = f"arn:{plan.partition}:application-autoscaling:{region}:{account}:scalable-target/*"
    register = _allow(
        f"Boost{side}AutoScalingTargets",
        ["application-autoscaling:RegisterScalableTarget"],
        targets,
    )
    register["Condition"] = {
        "StringEquals": {"application-autoscaling:service-namespace": "dynamodb"}
    }
    return [
        _allow(f"Boost{side}TableCapacity", ["dynamodb:UpdateTable"], _tables(plan, source=source)),
        register,
        _allow(
            f"Read{side}AutoScalingTargets",
            ["application-autoscaling:DescribeScalableTargets"],
            "*",
        ),
    ]
