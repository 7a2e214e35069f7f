"""The single-step commands take one option object each (``api.ExportOptions``,
``ImportOptions``, ``ValidateOptions``) as well as their older keywords: the same run.

Against moto server over HTTP with two accounts; the copy is judged by the test's own
comparison (tests/itemcompare.py) besides the tool's validator.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ddbmigrate import api
from ddbmigrate.local.demo import put_items
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import MotoServer
from itemcompare import assert_same_items, dynamodb_client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


@pytest.fixture
def aws(local_aws: LocalAWS, aws_env: None) -> LocalAWS:
    return local_aws


def customer_table(aws: LocalAWS, count: int) -> str:
    table = f"opts-{uuid.uuid4().hex[:8]}"
    aws.client(SOURCE_ROLE, "dynamodb").create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "name", "KeyType": "HASH"},
            {"AttributeName": "city", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "name", "AttributeType": "S"},
            {"AttributeName": "city", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    put_items(aws, table, customer_items(count))
    return table


def test_export_import_validate_with_option_objects(aws: LocalAWS, tmp_path: Path) -> None:
    table = customer_table(aws, 12)
    staging = api.StagingOptions(url=str(tmp_path))

    exported = api.export(
        source=aws.source,
        staging=staging,
        options=api.ExportOptions(table=table, segments=3, workers=1, part_max_items=5),
    )
    imported = api.import_(
        dest=aws.dest,
        options=api.ImportOptions(source_url=str(tmp_path), table=table, workers=1),
    )
    report = api.validate(
        source=aws.source,
        dest=aws.dest,
        options=api.ValidateOptions(source_table=table, dest_table=table, workers=1),
    )

    assert exported.item_count == 12
    assert all(part.item_count <= 5 for part in exported.parts)  # part_max_items was used
    assert imported.item_count == 12
    assert report.matches
    assert (report.source_count, report.dest_count) == (12, 12)
    assert_same_items(
        dynamodb_client(aws.endpoint_url, SOURCE_ROLE),
        table,
        dynamodb_client(aws.endpoint_url, DEST_ROLE),
        table,
        count=12,
    )


def test_an_option_object_and_its_keywords_together_are_refused(aws: LocalAWS) -> None:
    options = api.ValidateOptions(source_table="a", dest_table="b")
    with pytest.raises(TypeError, match="pass source_table in options="):
        api.validate(source=aws.source, dest=aws.dest, options=options, source_table="a")
    with pytest.raises(TypeError, match="missing keyword argument 'table'"):
        api.export(source=aws.source, staging=api.StagingOptions(url="./staging/"))


def test_a_setting_keyword_beside_an_option_object_is_refused_not_dropped(aws: LocalAWS) -> None:
    """``segments=8`` beside ``options=`` would be lost; the call says so instead."""
    staging = api.StagingOptions(url="./staging/")
    with pytest.raises(TypeError, match="pass segments in options="):
        api.export(
            source=aws.source, staging=staging, options=api.ExportOptions(table="a"), segments=8
        )
    with pytest.raises(TypeError, match="pass max_rejects, threads in options="):
        api.import_(
            dest=aws.dest,
            options=api.ImportOptions(source_url="./staging/x/", table="a"),
            threads=2,
            max_rejects=5,
        )
    with pytest.raises(TypeError, match="pass consistent_read in options="):
        api.validate(
            source=aws.source,
            dest=aws.dest,
            options=api.ValidateOptions(source_table="a", dest_table="b"),
            consistent_read=True,
        )
