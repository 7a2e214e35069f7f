"""Export -> import -> validate through the in-memory fakes: the core logic, no sockets."""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson
import pytest

from ddbmigrate.checkpoint import Ledger
from ddbmigrate.errors import (
    AccessDeniedError,
    CorruptDataError,
    DestinationNotEmptyError,
    NotFoundError,
    RejectedItemError,
    StepTimeoutError,
    ThrottledError,
    TransientError,
)
from ddbmigrate.exporter import ExportOptions, ExportResult, export_table
from ddbmigrate.formats import native
from ddbmigrate.formats.detect import detect
from ddbmigrate.formats.tablefile import parse_table_file
from ddbmigrate.importer import ImportOptions, ImportResult, ensure_empty, import_source
from ddbmigrate.items import canonical_bytes
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.model import KeyAttribute, KeySchema, PartInfo
from ddbmigrate.pipeline import run_checks
from ddbmigrate.ports import NullObserver, TableSchema
from ddbmigrate.retry import RetryPolicy
from ddbmigrate.runs import RejectLimitError, RejectLog, RejectsError
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


def export(
    table: FakeTable,
    store: MemoryStore,
    *,
    ledger: Ledger | None = None,
    export_id: str | None = None,
    **options: object,
) -> ExportResult:
    return export_table(
        reader=table,
        schema=schema_of(table),
        store=store,
        options=ExportOptions(**{"segments": 4, "workers": 2, **options}),  # type: ignore[arg-type]
        clock=FakeClock(),
        ledger=ledger,
        export_id=export_id,
    )


def run_import(
    store: MemoryStore,
    dest: FakeTable,
    *,
    max_rejects: int = 0,
    workers: int = 2,
    clock: FakeClock | None = None,
    ledger: Ledger | None = None,
    single_file: str | None = None,
) -> ImportResult:
    return import_source(
        store=store,
        plan=detect(store, single_file=single_file),
        writer=dest,
        key=KEY,
        options=ImportOptions(workers=workers),
        rejects=RejectLog(store, "ddbmigrate/runs/test", max_rejects=max_rejects),
        clock=clock or FakeClock(),
        ledger=ledger,
    )


def test_export_writes_native_layout_with_counts_and_md5s() -> None:
    store = MemoryStore()
    result = export(source_table(250), store, part_max_items=40, page_limit=20)
    keys = list(store.list(result.export_dir))
    for name in ("manifest-summary.json", "manifest-summary.md5", "_started"):
        assert f"{result.export_dir}/{name}" in keys
    plan = detect(store)
    assert plan.folder == result.export_dir
    assert plan.total_items == 250
    assert sum(f.item_count or 0 for f in plan.files) == 250
    # Parts close at page boundaries: at most one page over the limit.
    assert all((f.item_count or 0) <= 40 + 20 for f in plan.files)
    for file in plan.files:
        assert native.md5_b64(store.get(file.key)) == file.md5
    table_file = parse_table_file(store.get(f"{result.export_dir}/ddbmigrate-table.json"))
    assert table_file.name == "customer"


def test_round_trip_through_fakes_is_exact() -> None:
    source = source_table(300)
    store = MemoryStore()
    export(source, store)
    dest = FakeTable("copy", KEY, unprocessed_every=3)
    result = run_import(store, dest, workers=3)
    assert result.item_count == 300
    assert sorted(map(repr, dest.items())) == sorted(map(repr, source.items()))
    report = validate_tables(
        source=source, dest=dest, key=KEY, options=ValidateOptions(), clock=FakeClock()
    )
    assert report.matches
    assert (report.source_count, report.dest_count) == (300, 300)


@pytest.mark.parametrize(
    ("fmt", "compression"),
    [("native-json", "zstd"), ("native-ion", "gzip"), ("datapipeline", "none")],
)
def test_every_output_format_imports_back(fmt: str, compression: str) -> None:
    source = source_table(40)
    store = MemoryStore()
    export(source, store, format=fmt, compression=compression, part_max_items=15, page_limit=5)
    dest = FakeTable("copy", KEY)
    assert run_import(store, dest).item_count == 40
    # Ion spells some numbers differently (12 -> 12.); DynamoDB stores them the same.
    assert sorted(map(canonical_bytes, dest.items())) == sorted(
        map(canonical_bytes, source.items())
    )


def test_unprocessed_items_are_resent_until_none_are_left() -> None:
    store = MemoryStore()
    export(source_table(60), store)
    dest = FakeTable("copy", KEY, unprocessed_every=2)
    clock = FakeClock()
    run_import(store, dest, workers=1, clock=clock)
    assert len(dest) == 60
    assert clock.sleeps, "backoff must wait before resending"


def test_transient_faults_are_retried_per_request() -> None:
    store = MemoryStore()
    source = source_table(
        30, scan_fail_plan=[ThrottledError("slow down"), None, TransientError("503")]
    )
    export(source, store, segments=1)
    dest = FakeTable("copy", KEY, fail_plan=[ThrottledError("slow down"), TransientError("reset")])
    run_import(store, dest, workers=1)
    assert len(dest) == 30


def test_retries_give_up_with_the_transient_error() -> None:
    store = MemoryStore()
    source = source_table(5, scan_fail_plan=[ThrottledError("slow down")] * 3)
    with pytest.raises(ThrottledError):
        export(source, store, segments=1, workers=1, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(NotFoundError, match="no export, backup or data file"):
        detect(store)  # the half-written export is invisible


def test_refused_item_is_found_in_its_batch_and_recorded() -> None:
    store = MemoryStore()
    export(source_table(5), store, segments=1)
    # Only the batch call fails: sent one by one, every item goes through.
    dest = FakeTable("copy", KEY, fail_plan=[RejectedItemError("Item size has exceeded")])
    result = run_import(store, dest, workers=1)
    assert result.item_count == 5
    assert len(dest) == 5


def test_item_refused_alone_is_a_reject_with_file_and_line() -> None:
    store = MemoryStore()
    export(source_table(3), store, segments=1)
    refusal = RejectedItemError("One or more parameter values were invalid")
    dest = FakeTable("copy", KEY, fail_plan=[refusal, None, refusal, None])
    with pytest.raises(RejectsError, match="1 item") as info:
        run_import(store, dest, workers=1, max_rejects=5)
    assert "data/000000-00000.json.gz line 2" in str(info.value)
    lines = store.get("ddbmigrate/runs/test/rejects/rejects.jsonl").splitlines()
    assert [orjson.loads(line)["line"] for line in lines] == [2]
    assert len(dest) == 2


def test_damaged_part_is_refused_by_md5() -> None:
    store = MemoryStore()
    result = export(source_table(20), store, segments=1)
    part = next(k for k in store.list(result.export_dir) if "/data/" in k)
    data = bytearray(store.get(part))
    data[-12] ^= 0xFF
    store.put(part, bytes(data))
    with pytest.raises(RejectLimitError, match="does not match the manifest"):
        run_import(store, FakeTable("copy", KEY), workers=1)


def test_damaged_manifest_is_refused_by_its_md5_file() -> None:
    store = MemoryStore()
    result = export(source_table(3), store, segments=1)
    key = f"{result.export_dir}/manifest-files.json"
    store.put(key, store.get(key) + b"\n")
    with pytest.raises(CorruptDataError, match="does not match its checksum file"):
        detect(store)


def test_bad_lines_are_rejected_with_line_numbers_up_to_the_limit() -> None:
    store = MemoryStore()
    good = native.encode_item_line({"name": {"S": "a"}, "city": {"S": "b"}})
    bad_key = native.encode_item_line({"name": {"N": "1"}, "city": {"S": "b"}})
    store.put("one.json", good + b"{not json\n" + bad_key + b'{"Item":{"x":{"Q":"1"}}}\n')
    dest = FakeTable("copy", KEY)
    with pytest.raises(RejectsError, match="3 item"):
        run_import(store, dest, max_rejects=3, single_file="one.json")
    rejects = [
        orjson.loads(line)
        for line in store.get("ddbmigrate/runs/test/rejects/rejects.jsonl").splitlines()
    ]
    assert [(r["line"], r["file"]) for r in rejects] == [
        (2, "one.json"),
        (3, "one.json"),
        (4, "one.json"),
    ]
    assert "key attribute 'name' is of type N; the table needs S" in rejects[1]["reason"]
    assert len(dest) == 1
    with pytest.raises(RejectLimitError, match=r"one\.json line 2"):
        run_import(store, FakeTable("again", KEY), max_rejects=0, single_file="one.json")


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
    assert detect(store).folder == second.export_dir
    assert detect(store, export_id=first.export_id).folder == first.export_dir
    with pytest.raises(NotFoundError, match="no complete export 'nope'"):
        detect(store, export_id="nope")


def test_export_resumes_from_the_ledger_without_rescanning_finished_segments() -> None:
    source = source_table(200)
    store = MemoryStore()
    clock = FakeClock()
    ledger = Ledger(store, "run-1", clock)
    ledger.create(command="export", plan={"t": 1})
    # First attempt dies after a few pages of the single segment.
    source.scan_fail_plan = [None, None, None, ValueError("killed")]
    with pytest.raises(ValueError, match="killed"):
        export(
            source,
            store,
            segments=1,
            part_max_items=20,
            page_limit=10,
            ledger=ledger,
            export_id="01700000000000-aaaaaaaa",
        )
    state = ledger.segments()[0]
    assert state.parts
    assert not state.done
    scans_before = source.scan_calls
    result = export(
        source,
        store,
        segments=1,
        part_max_items=20,
        page_limit=10,
        ledger=ledger,
        export_id="01700000000000-aaaaaaaa",
    )
    assert result.item_count == 200
    # It went on from the recorded key: the pages already in parts were not read again.
    assert source.scan_calls - scans_before < 200 // 10 + 1
    dest = FakeTable("copy", KEY)
    run_import(store, dest)
    assert sorted(map(repr, dest.items())) == sorted(map(repr, source.items()))


def test_import_resume_skips_files_the_ledger_records() -> None:
    store = MemoryStore()
    export(source_table(50), store, part_max_items=10, page_limit=10)
    ledger = Ledger(store, "run-2", FakeClock())
    ledger.create(command="import", plan={})
    dest = FakeTable("copy", KEY)
    run_import(store, dest, ledger=ledger)
    calls = dest.batch_calls
    again = run_import(store, dest, ledger=ledger)
    assert again.item_count == 50
    assert dest.batch_calls == calls, "finished files must not be written again"


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
    dest.put(dict(victim, visits={"N": "-1"}))
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
    report = validate_tables(
        source=source_table(30),
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
    run_import(store, dest, workers=1)
    assert dest.items() == [dict(item, v={"N": "2"})], "the later write of a key wins"


def test_jitter_is_bounded_by_the_policy() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(1)
    delays = [policy.delay(attempt, rng) for attempt in range(20)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert max(delays[:1]) <= 0.1


def test_a_step_past_its_timeout_stops_between_pages_and_resumes() -> None:
    source = source_table(100)
    store = MemoryStore()
    clock = FakeClock()
    ledger = Ledger(store, "run-t", clock)
    ledger.create(command="export", plan={})
    with pytest.raises(StepTimeoutError, match="the export step ran past its timeout"):
        export_table(
            reader=source,
            schema=schema_of(source),
            store=store,
            options=ExportOptions(segments=1, page_limit=10, part_max_items=10, deadline=-1.0),
            clock=clock,
            ledger=ledger,
            export_id="01700000000000-bbbbbbbb",
        )
    result = export_table(
        reader=source,
        schema=schema_of(source),
        store=store,
        options=ExportOptions(segments=1, page_limit=10, part_max_items=10),
        clock=clock,
        ledger=ledger,
        export_id="01700000000000-bbbbbbbb",
    )
    assert result.item_count == 100


def test_missing_permissions_are_reported_together() -> None:
    def denied(action: str) -> Callable[[], None]:
        def check() -> None:
            raise AccessDeniedError(f"{action} refused", hint=f'{{"Action": "{action}"}}')

        return check

    messages: list[str] = []

    class Lines(NullObserver):
        def message(self, text: str) -> None:
            messages.append(text)

    checks = [
        ("scan", denied("dynamodb:Scan")),
        ("ok", lambda: None),
        ("put", denied("s3:PutObject")),
    ]
    with pytest.raises(AccessDeniedError, match="2 permissions are missing") as info:
        run_checks(checks, Lines())
    assert "dynamodb:Scan" in (info.value.hint or "")
    assert "s3:PutObject" in (info.value.hint or "")
    assert "preflight ok: ok" in messages
