"""Export -> import -> validate through the in-memory fakes: the core logic, no sockets."""

from __future__ import annotations

import random

import pytest

from ddbmigrate.errors import (
    CorruptDataError,
    DestinationNotEmptyError,
    NotFoundError,
    RejectedItemError,
    ThrottledError,
    TransientError,
)
from ddbmigrate.exporter import ExportOptions, export_table, parse_table_file
from ddbmigrate.formats import native
from ddbmigrate.importer import (
    ImportOptions,
    ensure_empty,
    find_export,
    import_export,
    load_export,
)
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.model import KeyAttribute, KeySchema, PartInfo
from ddbmigrate.ports import TableSchema
from ddbmigrate.retry import RetryPolicy
from ddbmigrate.testing import FakeAdmin, FakeClock, FakeTable, MemoryStore
from ddbmigrate.validator import ValidateOptions, validate_tables

KEY = KeySchema(KeyAttribute("name", "S"), KeyAttribute("city", "S"))


def source_table(count: int, **kwargs: object) -> FakeTable:
    table = FakeTable("customer", KEY, **kwargs)  # type: ignore[arg-type]
    for item in customer_items(count):
        table.put(item)
    return table


def schema_of(table: FakeTable) -> TableSchema:
    admin = FakeAdmin()
    admin.add_table(table)
    found = admin.read_schema(table.name)
    assert found is not None
    return found


def export(table: FakeTable, store: MemoryStore, **options: object) -> native.ExportSummary:
    result = export_table(
        reader=table,
        schema=schema_of(table),
        store=store,
        options=ExportOptions(**{"segments": 4, "workers": 2, **options}),  # type: ignore[arg-type]
        clock=FakeClock(),
    )
    return load_export(store, result.export_dir).summary


def test_export_writes_native_layout_with_counts_and_md5s() -> None:
    store = MemoryStore()
    summary = export(source_table(250), store, part_max_items=40)
    export_dir = find_export(store)
    keys = list(store.list(export_dir))
    assert f"{export_dir}/manifest-summary.json" in keys
    assert f"{export_dir}/manifest-summary.md5" in keys
    assert f"{export_dir}/_started" in keys
    assert summary.item_count == 250
    entries = load_export(store, export_dir).entries
    assert sum(e.item_count for e in entries) == 250
    assert all(e.item_count <= 40 for e in entries)
    for entry in entries:
        data = store.get(
            f"{export_dir}/{native.resolve_data_key(entry.data_file_s3_key, export_dir=export_dir)}"
        )
        assert native.md5_b64(data) == entry.md5_checksum
    table_file = parse_table_file(store.get(f"{export_dir}/ddbmigrate-table.json"))
    assert table_file.name == "customer"


def test_round_trip_through_fakes_is_exact() -> None:
    source = source_table(300)
    store = MemoryStore()
    export(source, store)
    dest = FakeTable("copy", KEY, unprocessed_every=3)
    result = import_export(
        store=store,
        export=load_export(store, find_export(store)),
        writer=dest,
        key=KEY,
        options=ImportOptions(workers=3),
        clock=FakeClock(),
    )
    assert result.item_count == 300
    assert sorted(map(repr, dest.items())) == sorted(map(repr, source.items()))
    report = validate_tables(
        source=source, dest=dest, key=KEY, options=ValidateOptions(), clock=FakeClock()
    )
    assert report.matches
    assert (report.source_count, report.dest_count) == (300, 300)


def test_unprocessed_items_are_resent_until_none_are_left() -> None:
    store = MemoryStore()
    export(source_table(60), store)
    dest = FakeTable("copy", KEY, unprocessed_every=2)
    clock = FakeClock()
    import_export(
        store=store,
        export=load_export(store, find_export(store)),
        writer=dest,
        key=KEY,
        options=ImportOptions(workers=1),
        clock=clock,
    )
    assert len(dest) == 60
    assert clock.sleeps, "backoff must wait before resending"


def test_transient_faults_are_retried_per_request() -> None:
    store = MemoryStore()
    source = source_table(
        30, scan_fail_plan=[ThrottledError("slow down"), None, TransientError("503")]
    )
    export(source, store, segments=1)
    dest = FakeTable("copy", KEY, fail_plan=[ThrottledError("slow down"), TransientError("reset")])
    import_export(
        store=store,
        export=load_export(store, find_export(store)),
        writer=dest,
        key=KEY,
        options=ImportOptions(workers=1),
        clock=FakeClock(),
    )
    assert len(dest) == 30


def test_retries_give_up_with_the_transient_error() -> None:
    store = MemoryStore()
    source = source_table(5, scan_fail_plan=[ThrottledError("slow down")] * 3)
    with pytest.raises(ThrottledError):
        export(source, store, segments=1, workers=1, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(NotFoundError, match="no complete DynamoDB export"):
        find_export(store)  # the half-written export is invisible


def test_rejected_item_names_the_part_and_lines() -> None:
    store = MemoryStore()
    export(source_table(5), store, segments=1)
    dest = FakeTable("copy", KEY, fail_plan=[RejectedItemError("Item size has exceeded")])
    with pytest.raises(RejectedItemError, match=r"data/000000-00000.json.gz lines 1-5"):
        import_export(
            store=store,
            export=load_export(store, find_export(store)),
            writer=dest,
            key=KEY,
            options=ImportOptions(workers=1),
            clock=FakeClock(),
        )


def test_damaged_part_is_refused_by_md5() -> None:
    store = MemoryStore()
    export(source_table(20), store, segments=1)
    export_dir = find_export(store)
    part = next(k for k in store.list(export_dir) if "/data/" in k)
    data = bytearray(store.get(part))
    data[-12] ^= 0xFF
    store.put(part, bytes(data))
    with pytest.raises(CorruptDataError, match="MD5 does not match"):
        import_export(
            store=store,
            export=load_export(store, export_dir),
            writer=FakeTable("copy", KEY),
            key=KEY,
            options=ImportOptions(workers=1),
            clock=FakeClock(),
        )


def test_damaged_manifest_is_refused_by_its_md5_file() -> None:
    store = MemoryStore()
    export(source_table(3), store, segments=1)
    export_dir = find_export(store)
    store.put(
        f"{export_dir}/manifest-files.json", store.get(f"{export_dir}/manifest-files.json") + b"\n"
    )
    with pytest.raises(CorruptDataError, match="does not match its checksum file"):
        load_export(store, export_dir)


def test_newest_complete_export_is_chosen_and_export_id_selects() -> None:
    store = MemoryStore()
    clock = FakeClock()
    table = source_table(4)
    first = export_table(
        reader=table,
        schema=schema_of(table),
        store=store,
        options=ExportOptions(segments=1),
        clock=clock,
    )
    clock.advance(5)
    second = export_table(
        reader=table,
        schema=schema_of(table),
        store=store,
        options=ExportOptions(segments=1),
        clock=clock,
    )
    assert find_export(store) == second.export_dir
    assert find_export(store, first.export_id) == first.export_dir
    with pytest.raises(NotFoundError, match="no complete export 'nope'"):
        find_export(store, "nope")


def test_non_empty_destination_is_refused_unless_allowed() -> None:
    dest = source_table(1)
    with pytest.raises(DestinationNotEmptyError, match="'customer' already holds items"):
        ensure_empty(dest, into_existing=False, flag="--into-existing")
    ensure_empty(dest, into_existing=True, flag="--into-existing")


def test_validate_names_missing_extra_and_changed_keys() -> None:
    source = source_table(50)
    dest = FakeTable("copy", KEY)
    for item in source.items():
        dest.put(item)
    victim = source.items()[7]
    changed = dict(victim, visits={"N": "-1"})
    dest.put(changed)
    gone = source.items()[11]
    dest.delete({"name": gone["name"], "city": gone["city"]})
    dest.put({"name": {"S": "zz"}, "city": {"S": "Nowhere"}})
    report = validate_tables(
        source=source, dest=dest, key=KEY, options=ValidateOptions(segments=3), clock=FakeClock()
    )
    assert not report.matches
    assert report.changed == [f'name="{victim["name"]["S"]}", city="{victim["city"]["S"]}"']
    assert report.missing == [f'name="{gone["name"]["S"]}", city="{gone["city"]["S"]}"']
    assert report.extra == ['name="zz", city="Nowhere"']
    assert report.rechecked


def test_validate_lists_at_most_max_listed_but_counts_all() -> None:
    source = source_table(30)
    report = validate_tables(
        source=source,
        dest=FakeTable("empty", KEY),
        key=KEY,
        options=ValidateOptions(max_listed=5),
        clock=FakeClock(),
    )
    assert report.missing_count == 30
    assert len(report.missing) == 5


def test_number_formatting_alone_is_not_a_difference() -> None:
    source = FakeTable("a", KEY)
    dest = FakeTable("b", KEY)
    source.put(
        {"name": {"S": "x"}, "city": {"S": "y"}, "n": {"N": "1.50"}, "s": {"NS": ["2", "10"]}}
    )
    dest.put(
        {"name": {"S": "x"}, "city": {"S": "y"}, "n": {"N": "1.5"}, "s": {"NS": ["10", "2.0"]}}
    )
    report = validate_tables(
        source=source, dest=dest, key=KEY, options=ValidateOptions(), clock=FakeClock()
    )
    assert report.matches


def test_same_key_twice_in_a_part_goes_in_separate_batches() -> None:
    store = MemoryStore()
    writer = native.PartWriter()
    item = {"name": {"S": "a"}, "city": {"S": "b"}, "v": {"N": "1"}}
    writer.add(item)
    writer.add(dict(item, v={"N": "2"}))
    data, count, md5 = writer.finish()
    store.put("data/x.json.gz", data)
    files = native.manifest_files(
        [PartInfo(key="data/x.json.gz", item_count=count, md5_b64=md5, size=len(data))],
        data_key_prefix="",
    )
    store.put("manifest-files.json", files)
    store.put(
        "manifest-summary.json",
        native.ExportSummary(manifest_files_s3_key="manifest-files.json", item_count=2).to_json(),
    )
    dest = FakeTable("copy", KEY)
    import_export(
        store=store,
        export=load_export(store, find_export(store)),
        writer=dest,
        key=KEY,
        options=ImportOptions(workers=1),
        clock=FakeClock(),
    )
    assert dest.items() == [dict(item, v={"N": "2"})], "the later write of a key wins"


def test_jitter_is_bounded_by_the_policy() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(1)
    delays = [policy.delay(attempt, rng) for attempt in range(20)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert max(delays[:1]) <= 0.1
