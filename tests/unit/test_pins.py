"""What a run pins (its import source, the table it creates) and what a resume does with it."""

from __future__ import annotations

from typing import Any

import pytest

from ddbmigrate.checkpoint import Ledger, LedgerConflictError
from ddbmigrate.errors import ResumeMismatchError, SchemaMismatchError
from ddbmigrate.formats.detect import SourceFile, SourcePlan
from ddbmigrate.model import KeySchema
from ddbmigrate.pins import SOURCE_PIN, pin_source
from ddbmigrate.pipeline import TABLE_PIN, ensure_table
from ddbmigrate.ports import NullObserver, TableSchema
from ddbmigrate.testing import FakeAdmin, FakeClock, FakeTable, MemoryStore

ATTRS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "city", "AttributeType": "S"},
]
GSI = {
    "IndexName": "by-city",
    "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
    "Projection": {"ProjectionType": "ALL"},
}
TAGS = [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "prod"}]


def source(**extra: Any) -> TableSchema:
    return TableSchema(
        {
            "TableName": "src",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": ATTRS,
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "GlobalSecondaryIndexes": [GSI],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
            "DeletionProtectionEnabled": True,
            "TableClassSummary": {"TableClass": "STANDARD_INFREQUENT_ACCESS"},
            "TableStatus": "ACTIVE",
            **extra,
        },
        ttl_attribute="expires",
        tags=TAGS,
        pitr_enabled=True,
    )


class Lines(NullObserver):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def message(self, text: str) -> None:
        self.lines.append(text)


def bare_table(admin: FakeAdmin, name: str) -> TableSchema:
    """What an endpoint that ignored everything but the key would have made."""
    admin.add_table(FakeTable(name, KeySchema.from_description(source().description)))
    found = admin.read_schema(name)
    assert found is not None
    return found


def ledger_with(store: MemoryStore, **fields: Any) -> Ledger:
    ledger = Ledger(store, "run-1", FakeClock())
    ledger.prepare(command="import", plan={"table": "dst"})
    if fields:
        ledger.set(**fields)
    return ledger


def test_a_table_the_run_was_creating_gets_every_missing_setting() -> None:
    admin = FakeAdmin()
    src = source()
    first = FakeAdmin()
    ledger = ledger_with(MemoryStore())
    ensure_table(first, source=src, existing=None, table_name="dst", ledger=ledger)
    assert ledger.run[TABLE_PIN]["request"]["TableName"] == "dst"  # pinned before create
    observer = Lines()

    action = ensure_table(
        admin,
        source=src,
        existing=bare_table(admin, "dst"),
        table_name="dst",
        ledger=ledger,
        observer=observer,
    )

    assert action == (
        "table 'dst' was created earlier in this run; applied what it lacked: GSI 'by-city', "
        "stream NEW_IMAGE, table class STANDARD_INFREQUENT_ACCESS, deletion protection, "
        "2 tags, TTL on 'expires', point-in-time recovery"
    )
    done = admin.read_schema("dst")
    assert done is not None
    assert [i["IndexName"] for i in done.description["GlobalSecondaryIndexes"]] == ["by-city"]
    assert done.description["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert done.description["DeletionProtectionEnabled"] is True
    assert done.description["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert done.tags == TAGS
    assert done.ttl_attribute == "expires"
    assert done.pitr_enabled
    assert "table 'dst': applying GSI 'by-city'" in observer.lines


def test_an_existing_table_not_made_by_the_run_is_left_as_it_is() -> None:
    admin = FakeAdmin()
    action = ensure_table(
        admin,
        source=source(),
        existing=bare_table(admin, "dst"),
        table_name="dst",
        ledger=ledger_with(MemoryStore()),
    )
    assert action == "table 'dst' exists with the same key; left as it is"
    assert [m for m, _ in admin.calls if m != "read_schema"] == []


def test_a_missing_lsi_cannot_be_added_and_says_so() -> None:
    lsi = {
        "IndexName": "by-x",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }
    src = source(LocalSecondaryIndexes=[lsi])
    ledger = ledger_with(MemoryStore())
    ensure_table(FakeAdmin(), source=src, existing=None, table_name="dst", ledger=ledger)
    admin = FakeAdmin()
    with pytest.raises(SchemaMismatchError, match="lacks the local secondary index"):
        ensure_table(
            admin, source=src, existing=bare_table(admin, "dst"), table_name="dst", ledger=ledger
        )


def test_a_source_that_changed_since_the_table_was_pinned_is_refused() -> None:
    ledger = ledger_with(MemoryStore())
    ensure_table(FakeAdmin(), source=source(), existing=None, table_name="dst", ledger=ledger)
    changed = source(DeletionProtectionEnabled=False)
    admin = FakeAdmin()
    with pytest.raises(ResumeMismatchError, match="DeletionProtectionEnabled differ"):
        ensure_table(
            admin,
            source=changed,
            existing=bare_table(admin, "dst"),
            table_name="dst",
            ledger=ledger,
        )


def plan_of(store: MemoryStore, folder: str) -> SourcePlan:
    keys = sorted(k for k in store.objects if k.startswith(f"{folder}/data/"))
    return SourcePlan(
        kind="native export",
        format="native-json",
        folder=folder,
        files=[SourceFile(key=k) for k in keys],
    )


def export_in(store: MemoryStore, folder: str, files: int = 2) -> None:
    store.put(f"{folder}/manifest-summary.json", b'{"itemCount": 2}')
    for n in range(files):
        store.put(f"{folder}/data/{n}.json.gz", f"data {n}".encode())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.put("AWSDynamoDB/1/data/1.json.gz", b"other"), "data/1.json.gz (rewritten)"),
        (lambda s: s.delete("AWSDynamoDB/1/data/0.json.gz"), "data/0.json.gz (removed)"),
        (
            lambda s: s.put("AWSDynamoDB/1/manifest-summary.json", b"{}"),
            "the manifests of memory://store/AWSDynamoDB/1 changed",
        ),
    ],
    ids=["rewritten", "removed", "manifest"],
)
def test_a_changed_source_is_refused_naming_the_change(change: Any, message: str) -> None:
    store = MemoryStore()
    export_in(store, "AWSDynamoDB/1")
    ledger = ledger_with(store)
    pin_source(ledger, store, plan_of(store, "AWSDynamoDB/1"), NullObserver())
    assert ledger.run[SOURCE_PIN]["folder"] == "AWSDynamoDB/1"
    pinned = plan_of(store, "AWSDynamoDB/1")
    change(store)
    with pytest.raises(ResumeMismatchError) as caught:
        pin_source(ledger, store, pinned, NullObserver())
    assert message in caught.value.message


def test_an_unchanged_source_resumes() -> None:
    store = MemoryStore()
    export_in(store, "AWSDynamoDB/1")
    ledger = ledger_with(store)
    pin_source(ledger, store, plan_of(store, "AWSDynamoDB/1"), NullObserver())
    pinned = dict(ledger.run[SOURCE_PIN])
    pin_source(ledger, store, plan_of(store, "AWSDynamoDB/1"), NullObserver())  # no error
    assert ledger.run[SOURCE_PIN] == pinned  # the resume keeps the first run's pin


def test_a_named_run_ignores_the_sides_but_not_the_tables() -> None:
    store = MemoryStore()
    ledger = Ledger(store, "run-1", FakeClock())
    recorded = {"dest": {"endpoint_url": "http://a"}, "table": "t"}
    ledger.create(command="import", plan=recorded)
    ledger.check_plan({"dest": {"endpoint_url": "http://b"}, "table": "t"}, ignore=("dest",))
    with pytest.raises(LedgerConflictError, match="table differ"):
        ledger.check_plan({"dest": {"endpoint_url": "http://b"}, "table": "u"}, ignore=("dest",))
