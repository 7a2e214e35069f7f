"""Optional table settings are best effort: chosen with --settings, warned and reported when
an endpoint lacks the call or a role is denied it, an error with --strict-settings."""

from __future__ import annotations

from typing import Any

import pytest

from ddbmigrate.aws.errors import classify
from ddbmigrate.cli.exit_codes import ExitCode, exit_code_for
from ddbmigrate.errors import (
    AccessDeniedError,
    ConfigError,
    SettingsNotCopiedError,
    TransientError,
    UnsupportedError,
)
from ddbmigrate.pipeline import ensure_table, finish_table
from ddbmigrate.ports import TableSchema
from ddbmigrate.schema import TableTarget
from ddbmigrate.settings import ALL, SettingsLog, parse_settings
from ddbmigrate.testing import FakeAdmin

KEYS = [{"AttributeName": "name", "KeyType": "HASH"}]
ATTRS = [
    {"AttributeName": "name", "AttributeType": "S"},
    {"AttributeName": "city", "AttributeType": "S"},
]
GSI = {
    "IndexName": "by-city",
    "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
    "Projection": {"ProjectionType": "ALL"},
}


class Lines:
    """An observer that keeps the human log lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def step_started(self, step: str, *, total: int | None) -> None:
        del step, total

    def advanced(self, step: str, items: int) -> None:
        del step, items

    def message(self, text: str) -> None:
        self.lines.append(text)

    def step_finished(self, step: str, *, summary: str) -> None:
        del step, summary


class LackingAdmin(FakeAdmin):
    """An endpoint without UpdateContinuousBackups, and a role denied UpdateTimeToLive."""

    def enable_pitr(self, table: str) -> None:
        raise UnsupportedError(f"table {table!r}: UnknownOperationException")

    def enable_ttl(self, table: str, attribute: str) -> None:
        raise AccessDeniedError(f"TTL of {table!r} {attribute!r}: AccessDeniedException")


class NoIndexAdmin(FakeAdmin):
    def add_gsi(self, table: str, index: dict[str, Any], attributes: list[dict[str, str]]) -> None:
        raise UnsupportedError(f"table {table!r}: UnknownOperationException")


def source(**extra: Any) -> TableSchema:
    description = {
        "TableName": "customer",
        "KeySchema": KEYS,
        "AttributeDefinitions": ATTRS,
        "TableStatus": "ACTIVE",
        "GlobalSecondaryIndexes": [GSI],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        "DeletionProtectionEnabled": True,
        **extra,
    }
    return TableSchema(
        description, ttl_attribute="exp", pitr_enabled=True, tags=[{"Key": "k", "Value": "v"}]
    )


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        ("UnknownOperationException", "", 400),
        ("HTTP501", "", 501),
        ("ValidationException", "UpdateTimeToLive is not implemented", 400),
        ("NotImplemented", "", 400),
    ],
)
def test_an_operation_the_endpoint_lacks_is_unsupported_not_transient(
    code: str, message: str, status: int
) -> None:
    error = classify(code, message, status=status, what="table 't'")
    assert type(error) is UnsupportedError
    assert not isinstance(error, TransientError)


def test_settings_choice_parses_all_keys_only_and_lists() -> None:
    assert parse_settings("all") == ALL
    assert parse_settings("keys-only") == frozenset()
    assert parse_settings("ttl, tags") == {"ttl", "tags"}
    with pytest.raises(ConfigError, match=r"unknown setting.*wrong"):
        parse_settings("ttl,wrong")


def test_keys_only_target_has_the_indexes_and_billing_but_no_optional_setting() -> None:
    target = TableTarget.of(source(), table_name="copy", settings=frozenset())
    assert target.request["GlobalSecondaryIndexes"][0]["IndexName"] == "by-city"
    assert target.request["BillingMode"] == "PROVISIONED"
    assert target.optional_settings() == {}
    assert (target.ttl_attribute, target.pitr) == (None, False)
    assert "StreamSpecification" not in target.request
    assert "Tags" not in target.request


def test_a_setting_the_destination_lacks_is_warned_logged_and_the_rest_is_copied() -> None:
    admin, lines = LackingAdmin(), Lines()
    log = SettingsLog(lines)

    ensure_table(admin, source=source(), existing=None, table_name="copy", log=log, observer=lines)

    assert [line for line in lines.lines if line.startswith("not copied")] == [
        "not copied: TTL — the destination role is denied UpdateTimeToLive",
        "not copied: point-in-time recovery — the destination endpoint does not support "
        "UpdateContinuousBackups",
    ]
    outcomes = {o.setting: (o.copied, o.reason) for o in log.outcomes}
    assert outcomes["pitr"] == (
        False,
        "the destination endpoint does not support UpdateContinuousBackups",
    )
    assert outcomes["ttl"] == (False, "the destination role is denied UpdateTimeToLive")
    assert outcomes["tags"] == (True, "")
    assert outcomes["stream"] == (True, "")
    assert outcomes["deletion-protection"] == (True, "")


def test_strict_settings_turn_a_lacking_setting_into_exit_code_1() -> None:
    log = SettingsLog(Lines(), strict=True)

    with pytest.raises(
        SettingsNotCopiedError, match="TTL cannot be copied: the destination role is denied"
    ):
        ensure_table(LackingAdmin(), source=source(), existing=None, table_name="c", log=log)
    assert exit_code_for(SettingsNotCopiedError("x")) == ExitCode.FAILURE == 1


def test_an_index_is_never_best_effort() -> None:
    admin = NoIndexAdmin()
    target = TableTarget.of(source(), table_name="copy")
    admin.create_table({**target.request, "GlobalSecondaryIndexes": []})
    existing = admin.read_schema("copy")

    assert existing is not None
    with pytest.raises(UnsupportedError):
        finish_table(admin, target, existing, 10.0, Lines())
