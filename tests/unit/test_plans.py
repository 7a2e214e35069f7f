"""Typed run plans: the JSON a ledger holds is the one earlier versions wrote, so their
runs still resume (same keys, same hash), and resume knows a run by its plan's type."""

from __future__ import annotations

from typing import Any

import pytest

from ddbmigrate.checkpoint import plan_hash
from ddbmigrate.config import Side
from ddbmigrate.errors import ConfigError
from ddbmigrate.plans import (
    BulkPlan,
    ExportPlan,
    ImportPlan,
    MigratePlan,
    SidePlan,
    check_methods,
    plan_of,
)

SIDE = {"profile": "p", "role_arn": None, "region": "eu-west-1", "endpoint_url": None}

# Plans as ``run.json`` of earlier versions records them (hand-built dicts, key for key).
RECORDED: dict[str, dict[str, Any]] = {
    "migrate": {
        "source": SIDE,
        "dest": {**SIDE, "role_arn": "arn:aws:iam::222222222222:role/d"},
        "staging": "s3://bucket/prefix/",
        "source_table": "customer",
        "dest_table": "customer-copy",
        "segments": None,
        "part_max_items": 100_000,
        "export_method": "scan",
        "import_method": "batch",
    },
    "export": {
        "source": SIDE,
        "table": "customer",
        "staging": "exports/",
        "segments": 8,
        "part_max_items": 500,
        "format": "datapipeline",
        "compression": "zstd",
    },
    "import": {
        "dest": SIDE,
        "source": "s3://bucket/prefix/AWSDynamoDB/01234-abc/",
        "table": "customer",
        "export_id": None,
        "format": "native-json",
    },
}


@pytest.mark.parametrize("command", sorted(RECORDED))
def test_a_recorded_plan_reads_back_to_the_same_json_and_hash(command: str) -> None:
    recorded = RECORDED[command]
    plan = plan_of(command, recorded)
    assert plan.command == command
    assert plan.to_json() == recorded
    assert list(plan.to_json()) == list(recorded)  # same keys in the same order
    assert plan.hash() == plan_hash(recorded)


def test_resume_dispatches_on_the_plans_type() -> None:
    assert isinstance(plan_of("migrate", RECORDED["migrate"]), MigratePlan)
    assert isinstance(plan_of("export", RECORDED["export"]), ExportPlan)
    assert isinstance(plan_of("import", RECORDED["import"]), ImportPlan)


def test_a_migrate_plan_recorded_before_the_methods_existed_reads_with_defaults() -> None:
    old = {k: v for k, v in RECORDED["migrate"].items() if not k.endswith("_method")}
    plan = plan_of("migrate", old)
    assert isinstance(plan, MigratePlan)
    assert (plan.export_method, plan.import_method) == ("scan", "batch")


def test_a_plan_built_from_options_matches_the_recorded_one() -> None:
    side = Side(profile="p", region="eu-west-1", external_id="secret")
    plan = ImportPlan(
        dest=SidePlan.of(side),
        source=RECORDED["import"]["source"],
        table="customer",
        format="native-json",
    )
    assert plan.to_json() == RECORDED["import"]
    assert "secret" not in str(plan.to_json())  # no external id in a record anyone reads


def test_plans_are_frozen_and_hashable() -> None:
    plan = plan_of("export", RECORDED["export"])
    with pytest.raises(AttributeError):
        plan.table = "other"  # type: ignore[misc]
    assert hash(plan) == hash(plan_of("export", RECORDED["export"]))


def test_a_record_without_its_table_is_refused_with_a_next_step() -> None:
    with pytest.raises(ConfigError, match="lacks 'table'") as caught:
        plan_of("export", {"source": SIDE})
    assert caught.value.hint == "start a new run instead"


@pytest.mark.parametrize(
    ("export_method", "import_method", "message"),
    [
        ("parallel", "batch", "--export-method 'parallel' is not one of scan, native"),
        ("scan", "turbo", "--import-method 'turbo' is not one of batch, native, bulk"),
    ],
)
def test_methods_are_checked_in_one_place(
    export_method: str, import_method: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        check_methods(export_method, import_method)
    check_methods("native", "native")  # both allowed values pass


@pytest.mark.parametrize("command", ["migrate", "import"])
def test_a_bulk_run_records_its_rate_and_tier_so_other_options_are_another_plan(
    command: str,
) -> None:
    body = {**RECORDED[command], "bulk": {"max_wru": 2048, "tier": "ACCELERATED"}}
    if command == "migrate":
        body["import_method"] = "bulk"
    plan = plan_of(command, body)
    assert plan.to_json() == body
    other = plan_of(command, {**body, "bulk": {"max_wru": 4096, "tier": "ACCELERATED"}})
    assert other.hash() != plan.hash()
    assert "bulk" not in plan_of(command, RECORDED[command]).to_json()
    assert BulkPlan.from_json(None) is None
