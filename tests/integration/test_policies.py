"""Each generated policy allows exactly the calls a real migration makes.

A recording proxy sits between the tool and moto server. Two migrations run through it with
the two accounts of the embedded AWS (a new destination table, then an existing empty one in
the same staging prefix, which also reads the first run's ledger). Every recorded request is
mapped to the IAM action(s) AWS authorises it as, to the identity that signed it (the access
key of an assumed role, learned from the AssumeRole answers) and to its resource. Then:

- every call of the source role is allowed by the source role policy, and its S3 calls by the
  staging bucket policy too (the bucket is in the other account); every call of the
  destination role by the destination role policy; the base credentials only assume the roles;
- every action of every statement was used by some call, and every resource a statement names
  by some call, except what ``NOT_EXERCISED`` lists with the reason the runs cannot reach it
  (and the existing destination table, which is not created).

The evaluator below knows what our policies use (Allow, wildcards in Action and Resource,
StringLike(IfExists)/StringEquals conditions, Principal) and fails on anything else.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from botocore.exceptions import ClientError

from ddbmigrate import api, policies
from ddbmigrate.local.demo import put_items
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import (
    BUCKET,
    DEST_ACCOUNT,
    DEST_ROLE,
    SOURCE_ACCOUNT,
    SOURCE_ROLE,
    LocalAWS,
    bootstrap,
)
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_REGION, MotoServer
from ddbmigrate.pipeline import MigrateOptions
from tables import make_customer_table

_FAULTS = str(Path(__file__).resolve().parents[1] / "faults")
if _FAULTS not in sys.path:
    sys.path.insert(0, _FAULTS)
from fault_proxy import FaultProxy  # noqa: E402

pytestmark = pytest.mark.integration

CALLER = "caller"
"""The base credentials the roles are assumed from."""

# (identity, Sid, action) the recorded runs cannot reach, and why.
NOT_EXERCISED = {
    (SOURCE_ROLE, "WriteExportsAndRunLedger", "s3:AbortMultipartUpload"): (
        "only after a failed multipart upload (objects above 16 MiB) or by AWS's native export"
    ),
    (DEST_ROLE, "RecordRejectedItems", "s3:PutObject"): "only when DynamoDB refuses an item",
}


# --- recording ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request through the proxy and the status and body moto answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    response: bytes


class RecordingProxy(FaultProxy):
    """The fault proxy with no faults, keeping every exchange."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.exchanges: list[Exchange] = []
        self._record_lock = threading.Lock()

    def handle(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        reply = super().handle(method, path, headers, body)
        lowered = {name.lower(): value for name, value in headers}
        status, response = (reply.status, reply.body) if reply is not None else (0, b"")
        with self._record_lock:
            self.exchanges.append(Exchange(method, path, lowered, body, status, response))
        return reply


# --- requests -> IAM calls --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One authorisation AWS makes for a request (a request may need several)."""

    identity: str
    """Role ARN, or CALLER for the base credentials."""
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    """Condition keys of the request, e.g. (("s3:prefix", "migrations/x/"),)."""
    request: str = field(default="", compare=False)


_CREDENTIAL = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_ASSUMED = re.compile(r"arn:aws:sts::(\d{12}):assumed-role/([^/]+)/.+")
_STS_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}


def signer(exchange: Exchange) -> tuple[str, str, str]:
    """(access key id, region, service) from the SigV4 Authorization header."""
    match = _CREDENTIAL.search(exchange.headers.get("authorization", ""))
    assert match, f"unsigned request {exchange.method} {exchange.path}"
    return match.group(1), match.group(2), match.group(3)


def identities(exchanges: list[Exchange]) -> dict[str, str]:
    """Access key id -> role ARN, from the AssumeRole answers; base key -> CALLER."""
    keys = {LOCAL_ACCESS_KEY: CALLER}
    for exchange in exchanges:
        if signer(exchange)[2] != "sts":
            continue
        if parse_qs(exchange.body.decode()).get("Action") != ["AssumeRole"]:
            continue
        assert exchange.status == 200, exchange.response
        root = ET.fromstring(exchange.response)
        key = root.findtext(".//sts:Credentials/sts:AccessKeyId", namespaces=_STS_NS)
        arn = root.findtext(".//sts:AssumedRoleUser/sts:Arn", namespaces=_STS_NS)
        assert key, exchange.response
        assert arn, exchange.response
        # arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION -> arn:aws:iam::ACCOUNT:role/NAME
        match = _ASSUMED.fullmatch(arn)
        assert match, arn
        keys[key] = f"arn:aws:iam::{match.group(1)}:role/{match.group(2)}"
    return keys


def iam_calls(exchange: Exchange, keys: dict[str, str]) -> list[Call]:
    """What AWS authorises ``exchange`` as."""
    key, region, service = signer(exchange)
    identity = keys[key]
    if service == "dynamodb":
        return _dynamodb_calls(exchange, identity, region)
    if service == "s3":
        return _s3_calls(exchange, identity)
    if service == "sts":
        form = parse_qs(exchange.body.decode())
        action = form["Action"][0]
        resource = form["RoleArn"][0] if action == "AssumeRole" else "*"
        return [Call(identity, f"sts:{action}", resource, request=f"sts {action}")]
    raise AssertionError(f"a call to {service} the test does not know: {exchange.path}")


def _account(identity: str) -> str:
    return identity.split(":")[4]


def _dynamodb_calls(exchange: Exchange, identity: str, region: str) -> list[Call]:
    operation = exchange.headers["x-amz-target"].split(".", 1)[1]
    body = json.loads(exchange.body)
    base = f"arn:aws:dynamodb:{region}:{_account(identity)}:table/"
    if "TableName" in body:
        resources = [base + body["TableName"]]
    elif "RequestItems" in body:
        resources = [base + name for name in body["RequestItems"]]
    else:
        arn_field = next(
            f for f in ("ResourceArn", "TableArn", "ExportArn", "ImportArn") if f in body
        )
        resources = [body[arn_field]]
    actions = [f"dynamodb:{operation}"]
    if operation == "CreateTable" and body.get("Tags"):
        actions.append("dynamodb:TagResource")  # tag on create is authorised as TagResource
    request = f"dynamodb {operation}"
    return [Call(identity, a, r, request=request) for a in actions for r in resources]


def _s3_calls(exchange: Exchange, identity: str) -> list[Call]:
    url = urlsplit(exchange.path)
    bucket, _, key = url.path.lstrip("/").partition("/")
    query = parse_qs(url.query, keep_blank_values=True)
    method = exchange.method
    request = f"s3 {method} {url.path}{'?' + url.query if url.query else ''}"
    assert exchange.headers.get("x-amz-server-side-encryption") in (None, "AES256"), request
    if not key:
        context: tuple[tuple[str, str], ...] = ()
        if method == "GET" and "ownershipControls" in query:
            bucket_arn = f"arn:aws:s3:::{bucket}"
            return [Call(identity, "s3:GetBucketOwnershipControls", bucket_arn, (), request)]
        if method == "GET" and query.get("list-type") == ["2"]:
            if "prefix" in query:
                context = (("s3:prefix", query["prefix"][0]),)
        elif method != "HEAD":  # HeadBucket is authorised as s3:ListBucket
            raise AssertionError(f"a bucket request the test does not know: {request}")
        return [Call(identity, "s3:ListBucket", f"arn:aws:s3:::{bucket}", context, request)]
    resource = f"arn:aws:s3:::{bucket}/{unquote(key)}"
    action = _s3_object_action(method, query, request)
    # A canned ACL on a PUT is authorised as s3:PutObject with the s3:x-amz-acl condition
    # key, not as s3:PutObjectAcl (S3 user guide, "Policy examples for ACLs"; ADR 0017).
    acl = exchange.headers.get("x-amz-acl")
    context = (("s3:x-amz-acl", acl),) if acl is not None else ()
    return [Call(identity, action, resource, context, request)]


def _s3_object_action(method: str, query: dict[str, list[str]], request: str) -> str:
    if method in ("GET", "HEAD") and not query:
        return "s3:GetObject"
    if (method == "PUT" and (not query or "partNumber" in query)) or (
        method == "POST" and ("uploads" in query or "uploadId" in query)
    ):
        return "s3:PutObject"  # PutObject, UploadPart, Create/CompleteMultipartUpload
    if method == "DELETE":
        return "s3:AbortMultipartUpload" if "uploadId" in query else "s3:DeleteObject"
    raise AssertionError(f"an object request the test does not know: {request}")


# --- a small IAM evaluator --------------------------------------------------------------------


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition_holds(condition: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, keys in condition.items():
        if_exists = operator.endswith("IfExists")
        base = operator.removesuffix("IfExists")
        assert base in ("StringLike", "StringEquals"), f"evaluator lacks {operator}"
        for name, patterns in keys.items():
            if name not in context:
                if not if_exists:
                    return False
                continue
            like = base == "StringLike"
            if not any(
                _wildcard(p, context[name]) if like else p == context[name]
                for p in _listed(patterns)
            ):
                return False
    return True


def statement_allows(statement: dict[str, Any], call: Call, *, principal: str | None) -> bool:
    assert statement["Effect"] == "Allow", "our policies hold Allow statements only"
    assert set(statement) <= {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}
    if principal is not None and principal not in _listed(statement["Principal"]["AWS"]):
        return False
    if not any(_wildcard(a, call.action, ignore_case=True) for a in _listed(statement["Action"])):
        return False
    if not any(_wildcard(r, call.resource) for r in _listed(statement["Resource"])):
        return False
    return _condition_holds(statement.get("Condition", {}), dict(call.context))


def allows(doc: dict[str, Any], call: Call, *, principal: str | None = None) -> bool:
    return any(statement_allows(s, call, principal=principal) for s in doc["Statement"])


# --- the runs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recorded:
    plan: policies.PolicyPlan
    calls: list[Call]


def create_source(env: LocalAWS, table: str) -> None:
    """Key (name, city), a GSI, tags, TTL and PITR: every setting the schema step copies."""
    ddb = env.client(SOURCE_ROLE, "dynamodb")
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "name", "KeyType": "HASH"},
            {"AttributeName": "city", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "name", "AttributeType": "S"},
            {"AttributeName": "city", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-city",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "team", "Value": "payments"}],
    )
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    ddb.update_continuous_backups(
        TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )
    put_items(env, table, customer_items(60))


def create_empty_dest(env: LocalAWS, table: str) -> None:
    make_customer_table(env, table, role=DEST_ROLE)


def _base_credentials_only(mp: pytest.MonkeyPatch, env: LocalAWS) -> None:
    """The embedded AWS's base credentials and nothing of the host's AWS setup."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        mp.delenv(name, raising=False)
    for name, value in env.base_env.items():
        mp.setenv(name, value)
    mp.setenv("AWS_CONFIG_FILE", "/nonexistent/ddbmigrate-test-aws-config")
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/ddbmigrate-test-aws-credentials")
    mp.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _bootstrap(env: LocalAWS) -> None:
    """Roles, bucket and bucket policy, unless another module's fixture made them already."""
    try:
        bootstrap(env)
    except ClientError as exc:  # a bootstrap that is not idempotent stops at the first role
        if exc.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
            raise


def _migrate_twice(moto_server: MotoServer, token: str) -> list[Exchange]:
    """A new destination table, then an existing empty one, in one staging prefix."""
    direct = LocalAWS(endpoint_url=moto_server.endpoint_url)  # setup: not recorded
    _bootstrap(direct)
    create_source(direct, f"customer-{token}")
    create_empty_dest(direct, f"existing-{token}")
    proxy = RecordingProxy(moto_server.endpoint_url)
    with proxy:
        via = LocalAWS(endpoint_url=proxy.url)
        for dest_table in (f"copy-{token}", f"existing-{token}"):
            report = api.migrate(
                source=via.source,
                dest=via.dest,
                staging=api.StagingOptions(url=f"s3://{BUCKET}/policies-{token}/"),
                options=MigrateOptions(
                    source_table=f"customer-{token}", dest_table=dest_table, segments=2, workers=2
                ),
            )
            assert report.validation is not None
            assert report.validation.matches
        return list(proxy.exchanges)


@pytest.fixture(scope="module")
def recorded(moto_server: MotoServer) -> Recorded:
    """The calls of two migrations, and the plan of both."""
    token = uuid.uuid4().hex[:8]
    with pytest.MonkeyPatch.context() as mp:
        _base_credentials_only(mp, LocalAWS(endpoint_url=moto_server.endpoint_url))
        exchanges = _migrate_twice(moto_server, token)
    failed = [(e.method, e.path, e.status, e.response[:200]) for e in exchanges if not _ok(e)]
    assert failed == []
    keys = identities(exchanges)
    plan = policies.PolicyPlan.for_staging(
        f"s3://{BUCKET}/policies-{token}/",
        source_account=SOURCE_ACCOUNT,
        dest_account=DEST_ACCOUNT,
        source_region=LOCAL_REGION,
        dest_region=LOCAL_REGION,
        source_tables=(f"customer-{token}", f"customer-{token}"),
        dest_tables=(f"copy-{token}", f"existing-{token}"),
        source_role_arn=SOURCE_ROLE,
    )
    return Recorded(plan, [call for e in exchanges for call in iam_calls(e, keys)])


def _ok(exchange: Exchange) -> bool:
    """Success, or an answer the tool asks for: HeadObject of an absent key (does a file
    exist?) and DescribeTable of an absent destination table (create it?)."""
    if 200 <= exchange.status < 300 or (exchange.method == "HEAD" and exchange.status == 404):
        return True
    if b"OwnershipControlsNotFoundError" in exchange.response:
        return True  # the bucket has no Object Ownership setting: ACLs decide
    return exchange.status == 400 and b"ResourceNotFoundException" in exchange.response


def _by(recorded: Recorded, identity: str) -> list[Call]:
    return [c for c in recorded.calls if c.identity == identity]


# --- the checks -------------------------------------------------------------------------------


def test_the_run_acts_through_both_roles_and_the_caller_only_assumes_them(
    recorded: Recorded,
) -> None:
    assert {c.identity for c in recorded.calls} == {CALLER, SOURCE_ROLE, DEST_ROLE}
    assert {(c.action, c.resource) for c in _by(recorded, CALLER)} == {
        ("sts:AssumeRole", SOURCE_ROLE),
        ("sts:AssumeRole", DEST_ROLE),
    }


def test_source_role_policy_allows_every_call_of_the_source_role(recorded: Recorded) -> None:
    doc = policies.source_role_policy(recorded.plan)
    denied = [c for c in _by(recorded, SOURCE_ROLE) if not allows(doc, c)]
    assert denied == []


def test_bucket_policy_allows_every_s3_call_of_the_source_role(recorded: Recorded) -> None:
    doc = policies.bucket_policy(recorded.plan)
    s3_calls = [c for c in _by(recorded, SOURCE_ROLE) if c.action.startswith("s3:")]
    assert s3_calls
    denied = [c for c in s3_calls if not allows(doc, c, principal=SOURCE_ROLE)]
    assert denied == []
    # ... and nobody else: another principal of the source account gets nothing.
    stranger = f"arn:aws:iam::{SOURCE_ACCOUNT}:role/someone-else"
    assert not any(allows(doc, c, principal=stranger) for c in s3_calls)


def test_dest_role_policy_allows_every_call_of_the_dest_role(recorded: Recorded) -> None:
    doc = policies.dest_role_policy(recorded.plan)
    denied = [c for c in _by(recorded, DEST_ROLE) if not allows(doc, c)]
    assert denied == []


def _used(statement: dict[str, Any], calls: list[Call], **narrow: str) -> bool:
    narrowed = {**statement, **narrow}
    return any(statement_allows(narrowed, c, principal=None) for c in calls)


def _unused(doc: dict[str, Any], calls: list[Call]) -> tuple[set[Any], set[Any]]:
    """(Sid, action) no call used on any of the statement's resources, and (Sid, resource)
    no call used with any of its actions: no statement grants more than the run needed."""
    actions, resources = set(), set()
    for statement in doc["Statement"]:
        sid = statement["Sid"]
        actions |= {
            (sid, a) for a in _listed(statement["Action"]) if not _used(statement, calls, Action=a)
        }
        resources |= {
            (sid, r)
            for r in _listed(statement["Resource"])
            if not _used(statement, calls, Resource=r)
        }
    return actions, resources


@pytest.mark.parametrize(
    ("identity", "make"),
    [
        (SOURCE_ROLE, policies.source_role_policy),
        (DEST_ROLE, policies.dest_role_policy),
        (SOURCE_ROLE, policies.bucket_policy),
    ],
    ids=["source-role", "dest-role", "bucket"],
)
def test_every_statement_is_used_by_the_run(recorded: Recorded, identity: str, make: Any) -> None:
    doc = make(recorded.plan)
    calls = _by(recorded, identity)
    unused_actions, unused_resources = _unused(doc, calls)
    expected = {
        (sid if make is not policies.bucket_policy else f"SourceRole{sid}", action)
        for (who, sid, action) in NOT_EXERCISED
        if who == identity
    }
    assert unused_actions == expected
    # The plan cannot know which destination table exists: the one that did is not created.
    existing = (
        f"arn:aws:dynamodb:{LOCAL_REGION}:{DEST_ACCOUNT}:table/{recorded.plan.dest_tables[1]}"
    )
    not_created = {
        (sid, existing) for sid in ("CreateDestTableLikeSource", "EnableTtlAndPitrLikeSource")
    }
    rejects = [s for s in doc["Statement"] if s["Sid"] == "RecordRejectedItems"]
    never_rejected = {(s["Sid"], r) for s in rejects for r in _listed(s["Resource"])}
    assert unused_resources == (not_created | never_rejected if identity == DEST_ROLE else set())


def test_the_recorded_actions_are_the_documented_ones(recorded: Recorded) -> None:
    """The list the README's "What each account needs" should show (kept here to notice
    when the tool starts calling something new)."""
    used = {(c.identity, c.action) for c in recorded.calls}
    assert {a for who, a in used if who == SOURCE_ROLE} == {
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:ListTagsOfResource",
        "dynamodb:Scan",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    }
    assert {a for who, a in used if who == DEST_ROLE} == {
        "dynamodb:BatchWriteItem",
        "dynamodb:CreateTable",
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:ListTagsOfResource",
        "dynamodb:Scan",
        "dynamodb:TagResource",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:UpdateTimeToLive",
        "s3:GetBucketOwnershipControls",
        "s3:GetObject",
        "s3:ListBucket",
        "sts:GetCallerIdentity",
    }


def test_a_narrower_policy_would_deny_the_run(recorded: Recorded) -> None:
    """The evaluator is not a rubber stamp: drop one action and a recorded call is denied."""
    doc = policies.source_role_policy(recorded.plan)
    for statement in doc["Statement"]:
        statement["Action"] = [a for a in _listed(statement["Action"]) if a != "s3:DeleteObject"]
    denied = {c.action for c in _by(recorded, SOURCE_ROLE) if not allows(doc, c)}
    assert denied == {"s3:DeleteObject"}
    outside = Call(SOURCE_ROLE, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}", (("s3:prefix", ""),))
    assert not allows(policies.source_role_policy(recorded.plan), outside)


# --- what this configuration cannot exercise: present when the options ask for it ------------


def _actions(doc: dict[str, Any]) -> dict[str, set[str]]:
    return {s["Sid"]: set(_listed(s["Action"])) for s in doc["Statement"]}


def test_native_paths_add_their_statements(recorded: Recorded) -> None:
    plan = replace(recorded.plan, export_method="native", import_method="native")
    source = _actions(policies.source_role_policy(plan))
    dest = _actions(policies.dest_role_policy(plan))
    assert source["StartNativeExportOfSourceTable"] == {"dynamodb:ExportTableToPointInTime"}
    assert source["FollowNativeExport"] == {"dynamodb:DescribeExport"}
    assert dest["ImportDestTableFromStaging"] == {"dynamodb:ImportTable"}
    assert dest["FollowImport"] == {"dynamodb:DescribeImport"}
    assert "dynamodb:UpdateTable" in dest["ApplySettingsImportTableCannotSet"]
    assert "logs:PutLogEvents" in dest["ImportTableLogsToCloudWatch"]
    assert "dynamodb:BatchWriteItem" not in set().union(*dest.values())
    assert "RecordRejectedItems" not in dest


def test_kms_options_add_their_statements(recorded: Recorded) -> None:
    plan = replace(
        recorded.plan, sse="aws:kms", sse_kms_key_id="1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    source = _actions(policies.source_role_policy(plan))
    dest = _actions(policies.dest_role_policy(plan))
    assert source["EncryptStagingObjectsWithKmsKey"] == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert "kms:Decrypt" in dest["DecryptStagingObjects"]
