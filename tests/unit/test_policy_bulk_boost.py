"""The IAM statements the bulk import and the capacity boost will add (``policies.
bulk_import_statements``, ``policies.boost_statements``), linted by parliament like the
documents of ``ddbmigrate policies`` (tests/unit/test_policy_documents.py)."""

from __future__ import annotations

from typing import Any

from test_policy_documents import lint, make_plan

from ddbmigrate import policies

# parliament 1.6.4's action table predates the bulk operations: these three findings say
# only that it does not know them (botocore 1.44 and the AWS CLI do).
UNKNOWN_TO_PARLIAMENT = {
    ("UNKNOWN_ACTION", '"Unknown action dynamodb:StartBulkPutItems"'),
    ("UNKNOWN_ACTION", '"Unknown action dynamodb:CancelBulkOperation"'),
    ("UNKNOWN_ACTION", '"Unknown action dynamodb:DescribeBulkOperation"'),
}


def document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": policies.VERSION, "Statement": statements}


def by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements}


def test_bulk_import_statements() -> None:
    found = by_sid(policies.bulk_import_statements(make_plan()))

    assert found["StartBulkLoadIntoDestTable"]["Resource"] == (
        "arn:aws:dynamodb:eu-central-1:222222222222:table/customer-copy"
    )
    assert found["FollowAndCancelBulkLoad"]["Action"] == [
        "dynamodb:CancelBulkOperation",
        "dynamodb:DescribeBulkOperation",
    ]
    assert found["WriteBulkErrorReportAndRecord"]["Resource"] == (
        "arn:aws:s3:::bucket-in-b/migrations/ddbmigrate/runs/*/bulk/*"
    )


def test_parliament_knows_nothing_wrong_with_the_bulk_statements() -> None:
    findings = lint(document(policies.bulk_import_statements(make_plan())))
    assert findings == UNKNOWN_TO_PARLIAMENT


def test_boost_statements_for_each_side_pass_parliament() -> None:
    plan = make_plan()
    for source in (True, False):
        statements = policies.boost_statements(plan, source=source)
        assert lint(document(statements)) == set()
    dest = by_sid(policies.boost_statements(plan, source=False))
    assert dest["BoostDestTableCapacity"]["Action"] == ["dynamodb:UpdateTable"]
    assert dest["BoostDestAutoScalingTargets"]["Condition"] == {
        "StringEquals": {"application-autoscaling:service-namespace": "dynamodb"}
    }
    source = by_sid(policies.boost_statements(plan, source=True))
    assert source["BoostSourceTableCapacity"]["Resource"] == (
        "arn:aws:dynamodb:eu-west-1:111111111111:table/customer"
    )
