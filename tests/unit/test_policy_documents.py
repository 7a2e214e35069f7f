"""The IAM documents of ``ddbmigrate policies``: filled ARNs, no stray wildcards, valid JSON."""

from __future__ import annotations

import functools
import gc
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ddbmigrate import policies
from ddbmigrate.errors import ConfigError
from ddbmigrate.policies import PolicyPlan

SOURCE_ROLE = "arn:aws:iam::111111111111:role/ddbmigrate-source"
BUCKET = "bucket-in-b"


def make_plan(**changes: Any) -> PolicyPlan:
    fields: dict[str, Any] = {
        "source_account": "111111111111",
        "dest_account": "222222222222",
        "source_region": "eu-west-1",
        "dest_region": "eu-central-1",
        "source_tables": ("customer",),
        "dest_tables": ("customer-copy",),
        "source_role_arn": SOURCE_ROLE,
        **changes,
    }
    return PolicyPlan.for_staging(f"s3://{BUCKET}/migrations/", **fields)


def statements(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in doc["Statement"]}


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(doc: dict[str, Any]) -> set[str]:
    return {a for s in doc["Statement"] for a in listed(s["Action"])}


def resources(doc: dict[str, Any]) -> set[str]:
    return {r for s in doc["Statement"] for r in listed(s["Resource"])}


ALL_OPTIONS = [
    {},
    {"export_method": "native", "import_method": "native"},
    {"sse": "aws:kms", "sse_kms_key_id": "alias/staging", "dest_kms_key_id": "k-1"},
    {"validate": False, "bucket_owner_from_sts": False},
    {"live": True},
]


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=["default", "native", "kms", "lean", "live"])
def test_documents_are_valid_policy_json_with_unique_sids(options: dict[str, Any]) -> None:
    for name, doc in policies.policies(make_plan(**options)).items():
        assert json.loads(json.dumps(doc)) == doc
        assert doc["Version"] == "2012-10-17"
        sids = [s["Sid"] for s in doc["Statement"]]
        assert len(sids) == len(set(sids)), name
        assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), sids
        assert all(s["Effect"] == "Allow" for s in doc["Statement"])


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=["default", "native", "kms", "lean", "live"])
def test_every_arn_is_filled_from_the_plan(options: dict[str, Any]) -> None:
    plan = make_plan(**options)
    for doc in policies.policies(plan).values():
        for arn in resources(doc) - {"*"}:
            assert arn.startswith("arn:aws:"), arn
            assert "<" not in arn
            assert "{" not in arn
            service, region, account = arn.split(":")[2:5]
            if service == "s3":
                assert arn.startswith(f"arn:aws:s3:::{BUCKET}")
                assert (region, account) == ("", "")
            elif service == "dynamodb" and account == plan.source_account:
                assert region == plan.source_region
                assert re.search(r":table/customer(/export/\*|/stream/\*)?$", arn), arn
            else:
                assert (region, account) == (plan.dest_region, plan.dest_account), arn


@pytest.mark.parametrize("options", ALL_OPTIONS, ids=["default", "native", "kms", "lean", "live"])
def test_no_wildcard_resource_except_where_aws_requires_one(options: dict[str, Any]) -> None:
    for doc in policies.policies(make_plan(**options)).values():
        for statement in doc["Statement"]:
            if "*" in listed(statement["Resource"]):
                # No resource type: "*" is the only Resource these take.
                assert statement["Action"] in (
                    ["sts:GetCallerIdentity"],
                    ["logs:DescribeLogGroups"],
                )
            for arn in listed(statement["Resource"]):
                if ":s3:::" in arn:
                    assert arn == f"arn:aws:s3:::{BUCKET}" or arn.startswith(
                        f"arn:aws:s3:::{BUCKET}/migrations/"
                    )
            assert not any("*" in a.split(":")[0] for a in listed(statement["Action"]))


def test_source_role_reads_tables_and_writes_the_staging_prefix() -> None:
    doc = policies.source_role_policy(make_plan())
    assert actions(doc) == {
        "dynamodb:DescribeContinuousBackups",
        "dynamodb:DescribeTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:ListTagsOfResource",
        "dynamodb:Scan",
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    }
    by_sid = statements(doc)
    assert by_sid["DeletePreflightProbeAndPlanLock"]["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/migrations/ddbmigrate/preflight/*",
        f"arn:aws:s3:::{BUCKET}/migrations/ddbmigrate/locks/*",
    ]
    listing = by_sid["ListStagingPrefixForRunLedger"]
    assert listing["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert listing["Condition"] == {"StringLikeIfExists": {"s3:prefix": ["migrations/*"]}}


def test_dest_role_creates_fills_and_reads() -> None:
    doc = policies.dest_role_policy(make_plan())
    assert actions(doc) == {
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
        "s3:PutObject",
        "sts:GetCallerIdentity",
    }
    rejects = statements(doc)["RecordRejectedItems"]
    assert rejects["Resource"] == f"arn:aws:s3:::{BUCKET}/migrations/ddbmigrate/runs/*/rejects/*"


def test_bucket_policy_mirrors_the_source_roles_s3_statements_for_its_principal() -> None:
    plan = make_plan()
    bucket = policies.bucket_policy(plan)
    source_s3 = [
        s
        for s in policies.source_role_policy(plan)["Statement"]
        if s["Action"][0].startswith("s3:")
    ]
    assert len(bucket["Statement"]) == len(source_s3)
    for granted, own in zip(bucket["Statement"], source_s3, strict=True):
        assert granted["Principal"] == {"AWS": SOURCE_ROLE}
        assert granted["Sid"] == f"SourceRole{own['Sid']}"
        assert (granted["Action"], granted["Resource"]) == (own["Action"], own["Resource"])
    root = policies.bucket_policy(replace(plan, source_role_arn=None))
    assert root["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}


def test_native_paths_swap_scan_and_batch_for_aws_managed_jobs() -> None:
    plan = make_plan(export_method="native", import_method="native", validate=False)
    source = statements(policies.source_role_policy(plan))
    dest = policies.dest_role_policy(plan)
    assert "dynamodb:Scan" not in {a for s in source.values() for a in s["Action"]}
    assert source["FollowNativeExport"]["Resource"] == (
        "arn:aws:dynamodb:eu-west-1:111111111111:table/customer/export/*"
    )
    # AWS documents PutObjectAcl for its own export; ddbmigrate's writes never need it.
    assert "s3:PutObjectAcl" in source["WriteExportsAndRunLedger"]["Action"]
    assert {"dynamodb:BatchWriteItem", "dynamodb:CreateTable"}.isdisjoint(actions(dest))
    by_sid = statements(dest)
    assert by_sid["FollowImport"]["Resource"] == (
        "arn:aws:dynamodb:eu-central-1:222222222222:table/customer-copy/import/*"
    )
    assert by_sid["ImportTableLogsToCloudWatch"]["Resource"] == (
        "arn:aws:logs:eu-central-1:222222222222:log-group:/aws-dynamodb/*"
    )
    assert "RecordRejectedItems" not in by_sid


def test_options_that_need_less_grant_less() -> None:
    plan = make_plan(bucket_owner_from_sts=False)
    assert "sts:GetCallerIdentity" not in actions(policies.dest_role_policy(plan))
    no_validate = statements(policies.dest_role_policy(make_plan(validate=False)))
    assert "ScanDestTableToCheckEmpty" in no_validate  # the preflight still reads one item


def test_whole_bucket_staging_has_no_prefix_condition() -> None:
    plan = replace(make_plan(), prefix="")
    listing = statements(policies.source_role_policy(plan))["ListStagingPrefixForRunLedger"]
    assert "Condition" not in listing
    assert f"arn:aws:s3:::{BUCKET}/*" in resources(policies.dest_role_policy(plan))


def test_kms_keys_by_id_arn_and_alias() -> None:
    by_id = make_plan(sse="aws:kms", sse_kms_key_id="1234abcd", dest_kms_key_id="5678efgh")
    source = statements(policies.source_role_policy(by_id))["EncryptStagingObjectsWithKmsKey"]
    assert source["Resource"] == "arn:aws:kms:eu-central-1:222222222222:key/1234abcd"
    assert source["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    table_key = statements(policies.dest_role_policy(by_id))["UseDestTableKmsKeyThroughDynamoDB"]
    assert table_key["Resource"] == "arn:aws:kms:eu-central-1:222222222222:key/5678efgh"
    assert table_key["Condition"] == {
        "StringEquals": {"kms:ViaService": "dynamodb.eu-central-1.amazonaws.com"}
    }
    arn = "arn:aws:kms:us-east-2:333333333333:key/abc"
    assert (
        statements(policies.dest_role_policy(replace(by_id, sse_kms_key_id=arn)))[
            "DecryptStagingObjects"
        ]["Resource"]
        == arn
    )
    alias = statements(policies.source_role_policy(replace(by_id, sse_kms_key_id="alias/staging")))[
        "EncryptStagingObjectsWithKmsKey"
    ]
    assert alias["Resource"] == "arn:aws:kms:eu-central-1:222222222222:key/*"
    assert alias["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/staging"}
    }
    # The bucket's own aws/s3 key needs no statement: its key policy decides.
    assert "kms:Decrypt" not in actions(policies.dest_role_policy(make_plan(sse="aws:kms")))


def test_many_tables_and_other_partitions() -> None:
    plan = make_plan(
        source_tables=("a-table", "b-table"), dest_tables=("a-copy", "b-copy"), partition="aws-cn"
    )
    scan = statements(policies.source_role_policy(plan))["ScanSourceTableToExportAndValidate"]
    assert scan["Resource"] == [
        "arn:aws-cn:dynamodb:eu-west-1:111111111111:table/a-table",
        "arn:aws-cn:dynamodb:eu-west-1:111111111111:table/b-table",
    ]
    assert all(r.startswith("arn:aws-cn:") for r in resources(policies.bucket_policy(plan)))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source_account": "1111"}, "12-digit"),
        ({"dest_region": "mars"}, "region"),
        ({"dest_tables": ("a", "b")}, "destination table"),
        ({"source_tables": ("bad name!",), "dest_tables": ("x-y",)}, "table name"),
        ({"source_role_arn": "ddbmigrate-source"}, "role ARN"),
        ({"import_method": "turbo"}, "--import-method"),
        ({"sse_kms_key_id": "k"}, "--sse aws:kms"),
    ],
)
def test_a_plan_refuses_values_that_would_make_a_wrong_policy(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_plan(**changes)


def test_staging_must_be_s3() -> None:
    with pytest.raises(ConfigError, match="not an s3:// URL"):
        PolicyPlan.for_staging(
            "/tmp/exports",
            source_account="111111111111",
            dest_account="222222222222",
            source_region="eu-west-1",
            dest_region="eu-west-1",
            source_tables=("customer",),
            dest_tables=("customer",),
        )


def test_render_json_and_text() -> None:
    docs = policies.policies(make_plan())
    assert json.loads(policies.render(docs)) == docs
    text = policies.render(docs, fmt="text")
    for name in (policies.SOURCE_ROLE_FILE, policies.DEST_ROLE_FILE, policies.BUCKET_POLICY_FILE):
        assert f"# {name}\n{{" in text
    with pytest.raises(ConfigError, match="yaml"):
        policies.render(docs, fmt="yaml")  # type: ignore[arg-type]


def test_write_files(tmp_path: Path) -> None:
    docs = policies.policies(make_plan())
    written = policies.write_files(docs, tmp_path / "out")
    assert [p.name for p in written] == [
        "source-role-policy.json",
        "dest-role-policy.json",
        "staging-bucket-policy.json",
    ]
    for path in written:
        assert json.loads(path.read_text(encoding="utf-8")) == docs[path.name]
    with pytest.raises(ConfigError, match="plain file name"):
        policies.write_files({"../escape.json": {}}, tmp_path)


# --- linted by parliament (the IAM policy linter), community auditors included ---------------

# What parliament reports that the documents keep on purpose, when, and why; anything
# else fails.
ACCEPTED_FINDINGS: dict[tuple[str, str], tuple[Callable[[PolicyPlan], bool], str]] = {
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "s3:putobjectacl"): (
        lambda plan: plan.export_method == "native" or plan.live,
        "AWS's ExportTableToPointInTime (native export, and a live run's bridge) documents "
        "s3:PutObjectAcl among the S3 actions its caller needs (DynamoDB developer guide, "
        "'Requesting a table export'); ddbmigrate's own writes never need it (ADR 0017)",
    ),
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "kms:creategrant"): (
        lambda plan: plan.dest_kms_key_id is not None,
        "DynamoDB creates grants on a customer managed table key with the caller's "
        "permission; the statement is limited by kms:ViaService to DynamoDB",
    ),
    **{
        ("UNKNOWN_ACTION", json.dumps(f"Unknown action dynamodb:{action}")): (
            lambda plan: plan.import_method == "bulk",
            "StartBulkPutItems and its two companions are newer than parliament's action "
            "table (botocore >= 1.43.124 has them; ADR 0034)",
        )
        for action in ("StartBulkPutItems", "DescribeBulkOperation", "CancelBulkOperation")
    },
    ("UNKNOWN_CONDITION_FOR_ACTION", "kms:ResourceAliases"): (
        lambda plan: "alias/" in (plan.sse_kms_key_id or ""),
        "KMS authorises on the key, never on an alias, and documents kms:ResourceAliases for "
        "key operations; parliament's action table lacks it",
    ),
}


def accepted(plan: PolicyPlan) -> set[tuple[str, str]]:
    return {finding for finding, (when, _why) in ACCEPTED_FINDINGS.items() if when(plan)}


@functools.cache
def _parliament() -> Any:
    # parliament 1.6 imports pkg_resources and opens its data files without closing them:
    # warnings of its own import, not of the documents.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import parliament  # noqa: PLC0415 - a test-only dependency

        gc.collect()
    return parliament


def lint(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(issue, action or condition key) of every parliament finding on ``doc``."""
    found = set()
    policy = _parliament().analyze_policy_string(json.dumps(doc), include_community_auditors=True)
    for finding in policy.findings:
        detail, where = finding.detail, finding.location
        if isinstance(where, dict) and "actions" in where:
            found |= {(finding.issue, action) for action in where["actions"]}
        elif isinstance(detail, str) and detail.startswith("Unknown condition "):
            found.add((finding.issue, detail.split()[2]))
        else:
            found.add((finding.issue, json.dumps(detail, sort_keys=True)))
    return found


def test_parliament_finds_nothing_in_the_default_policies() -> None:
    """The default migration (scan export, batch import, bucket-owner-full-control sent by
    the source): no statement parliament would flag, s3:PutObjectAcl included."""
    for name, doc in policies.policies(make_plan()).items():
        assert lint(doc) == set(), name


LINTED_OPTIONS = [
    *ALL_OPTIONS,
    {"export_method": "native"},
    {"import_method": "native"},
    {"sse": "aws:kms", "sse_kms_key_id": "arn:aws:kms:eu-central-1:222222222222:key/k"},
    {"import_method": "bulk", "boost": True, "boost_source": True},
]


def test_bulk_and_boost_statements_join_the_documents_that_need_them() -> None:
    plain = policies.policies(make_plan())
    asked = policies.policies(make_plan(import_method="bulk", boost=True, boost_source=True))
    dest, source = asked[policies.DEST_ROLE_FILE], asked[policies.SOURCE_ROLE_FILE]
    assert "dynamodb:StartBulkPutItems" in actions(dest)
    assert {"dynamodb:UpdateTable", "application-autoscaling:RegisterScalableTarget"} <= (
        actions(dest) & actions(source)
    )
    assert "dynamodb:StartBulkPutItems" not in actions(source)
    for name in (policies.DEST_ROLE_FILE, policies.SOURCE_ROLE_FILE):
        assert not {"dynamodb:StartBulkPutItems", "dynamodb:UpdateTable"} & actions(plain[name])
    boost_only = policies.policies(make_plan(boost=True))
    assert "dynamodb:UpdateTable" not in actions(boost_only[policies.SOURCE_ROLE_FILE])
    assert asked[policies.BUCKET_POLICY_FILE] == plain[policies.BUCKET_POLICY_FILE]


@pytest.mark.parametrize("options", LINTED_OPTIONS)
def test_parliament_finds_only_what_aws_requires(options: dict[str, Any]) -> None:
    plan = make_plan(**options)
    for name, doc in policies.policies(plan).items():
        assert lint(doc) - accepted(plan) == set(), name
    native = policies.policies(make_plan(export_method="native"))
    assert ("PERMISSIONS_MANAGEMENT_ACTIONS", "s3:putobjectacl") in lint(
        native[policies.SOURCE_ROLE_FILE]
    ), "the linter is not a rubber stamp"


def test_live_adds_the_stream_and_the_sentinel_to_the_source_role_only() -> None:
    plain, live = policies.policies(make_plan()), policies.policies(make_plan(live=True))
    source = statements(live[policies.SOURCE_ROLE_FILE])
    table = "arn:aws:dynamodb:eu-west-1:111111111111:table/customer"
    assert source["EnableAndDisableSourceStream"]["Action"] == ["dynamodb:UpdateTable"]
    assert source["EnableAndDisableSourceStream"]["Resource"] == table
    assert source["ReadSourceStreamForReplay"]["Action"] == [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
    ]
    assert source["ReadSourceStreamForReplay"]["Resource"] == f"{table}/stream/*"
    assert source["WriteAndRemoveCutoverSentinel"]["Action"] == ["dynamodb:BatchWriteItem"]
    assert source["WriteAndRemoveCutoverSentinel"]["Resource"] == table
    assert source["BridgeStreamGapWithIncrementalExport"]["Action"] == [
        "dynamodb:ExportTableToPointInTime"
    ]
    assert source["FollowBridgeExport"]["Resource"] == f"{table}/export/*"
    assert "s3:PutObjectAcl" in source["WriteExportsAndRunLedger"]["Action"]
    assert "dynamodb:UpdateTable" not in actions(plain[policies.SOURCE_ROLE_FILE])
    bucket = live[policies.BUCKET_POLICY_FILE]  # the bridge's exports write as the source
    assert "s3:PutObjectAcl" in actions(bucket)
    assert "s3:PutObjectAcl" not in actions(plain[policies.BUCKET_POLICY_FILE])
    for name in plain:
        if name not in (policies.SOURCE_ROLE_FILE, policies.BUCKET_POLICY_FILE):
            assert live[name] == plain[name], name


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:iam::111111111111:role/x", "111111111111"),
        ("arn:aws-us-gov:iam::222222222222:role/path/x", "222222222222"),
        ("arn:aws:sts::333333333333:assumed-role/x/session", "333333333333"),
        ("arn:aws:iam::12345:role/x", None),
        ("arn:aws:s3:::bucket", None),
        (None, None),
    ],
)
def test_the_account_of_a_role_arn_is_read_without_any_call(
    arn: str | None, account: str | None
) -> None:
    assert policies.account_in_arn(arn) == account
