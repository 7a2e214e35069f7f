"""Pipeline files: every value checked, messages name the line and the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ddbmigrate.errors import ConfigError, FatalError, TransientError
from ddbmigrate.multi import TableJob, expand_tables, run_tables, with_step_retries
from ddbmigrate.notify.events import BEHIND_AFTER
from ddbmigrate.pipelinefile import TableSpec, load_pipeline
from ddbmigrate.settings import ALL
from ddbmigrate.wiring.tables import reporting_of

GOOD = """\
version: 1
source:
  profile: prod-a
  region: eu-west-1
destination:
  role_arn: arn:aws:iam::222222222222:role/ddbmigrate
  external_id: move-2026
staging: s3://bucket-in-b/migrations/
throughput:
  read_percent: 0.4
  max_wcu: 1000
tables:
  - customer
  - name: orders
    to: orders-v2
    segments: 8
    validate: false
  - glob: "prod-*"
steps: [preflight, schema, export, import]
retries:
  import: 3
timeouts:
  export: 3600
workers: 8
parallel_tables: 3
notify:
  webhook: https://hooks.example/ddb
  steps: true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return path


def test_every_field_is_read(tmp_path: Path) -> None:
    spec = load_pipeline(write(tmp_path, GOOD))
    assert spec.source.profile == "prod-a"
    assert spec.dest.external_id == "move-2026"
    assert spec.throughput == {"read_percent": 0.4, "max_wcu": 1000.0}
    assert [(t.name, t.glob, t.to) for t in spec.tables] == [
        ("customer", None, None),
        ("orders", None, "orders-v2"),
        (None, "prod-*", None),
    ]
    assert spec.tables[1].segments == 8
    assert spec.tables[1].validate is False
    assert spec.steps == ("preflight", "schema", "export", "import")
    assert spec.retries == {"import": 3}
    assert spec.timeouts == {"export": 3600.0}
    assert (spec.workers, spec.parallel_tables) == (8, 3)
    assert spec.notify_webhook == "https://hooks.example/ddb"
    assert spec.notify_steps is True


BAD = [
    (
        "workers: 8",
        "workres: 8",
        r"yaml:24: workres: not a key of a pipeline file; did you mean 'workers'",
    ),
    (
        "  export: 3600",
        "  export: -1",
        r"yaml:23: timeouts.export: expected seconds above 0, got -1",
    ),
    (
        "    segments: 8",
        "    segments: eight",
        r"yaml:16: tables\[1\]\.segments: expected a whole number, got 'eig",
    ),
    (
        "  profile: prod-a",
        "  profil: prod-a",
        r"yaml:3: source.profil: not a key of source; did you mean 'profile'",
    ),
    (
        "    to: orders-v2",
        "    to: customer",
        r"yaml:14: tables: two tables are mapped to destination 'customer'",
    ),
    (
        "steps: [preflight, schema, export, import]",
        "steps: [copy]",
        r"yaml:19: steps: unknown step\(s\) 'copy'",
    ),
    (
        "  read_percent: 0.4",
        "  read_percent: lots",
        r"yaml:10: throughput.read_percent: expected a number, got 'lots'",
    ),
    (
        "  webhook: https://hooks.example/ddb",
        "  webhook: ftp://x",
        r"yaml:27: notify.webhook: not an http:// or https:// URL",
    ),
    ("version: 1", "version: 2", r"yaml:1: version: 2 is not supported"),
]


@pytest.mark.parametrize(
    ("lag", "message"),
    [
        ("0.5", r"yaml:29: notify.lag: expected seconds, at least 1, got 0.5"),
        ("soon", r"yaml:29: notify.lag: expected a number, got 'soon'"),
    ],
)
def test_a_notify_lag_is_seconds_at_least_one(tmp_path: Path, lag: str, message: str) -> None:
    text = GOOD.replace("  steps: true\n", f"  steps: true\n  lag: {lag}\n")
    assert load_pipeline(write(tmp_path, GOOD)).notify_lag == BEHIND_AFTER
    with pytest.raises(ConfigError, match=message):
        load_pipeline(write(tmp_path, text))


def test_a_notify_lag_reaches_the_live_tables_notifications(tmp_path: Path) -> None:
    text = GOOD.replace("  steps: true\n", "  steps: true\n  lag: 120\n")
    spec = load_pipeline(write(tmp_path, text))
    assert spec.notify_lag == 120.0
    assert reporting_of(spec).notify_lag == 120.0


@pytest.mark.parametrize(("old", "new", "message"), BAD)
def test_bad_values_name_the_line_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError, match=message):
        load_pipeline(write(tmp_path, GOOD.replace(old, new)))


def test_missing_file_and_broken_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"yaml:2: a '\[' list that is not closed with '\]'"):
        load_pipeline(write(tmp_path, "tables: [a\n"))
    with pytest.raises(
        ConfigError, match=r"yaml:1: staging: missing: a pipeline file needs source"
    ):
        load_pipeline(write(tmp_path, "source: {}\ndestination: {}\ntables: [a]\n"))


def test_globs_expand_and_collisions_are_refused() -> None:
    specs = [TableSpec(glob="prod-*", line=3), TableSpec(name="x", to="y", line=4)]
    jobs = expand_tables(specs, lambda: ["prod-b", "dev-a", "prod-a"], file="p.yaml")
    assert [(j.source_table, j.dest_table) for j in jobs] == [
        ("prod-a", "prod-a"),
        ("prod-b", "prod-b"),
        ("x", "y"),
    ]
    with pytest.raises(ConfigError, match=r"p.yaml:3: tables: glob 'qa-\*' matches no table"):
        expand_tables([TableSpec(glob="qa-*", line=3)], lambda: ["prod-a"], file="p.yaml")
    clash = [TableSpec(glob="prod-*", line=3), TableSpec(name="other", to="prod-a", line=7)]
    with pytest.raises(
        ConfigError, match=r"p.yaml:7: tables: 'prod-a' \(line 3\) and 'other' both"
    ):
        expand_tables(clash, lambda: ["prod-a"], file="p.yaml")


class _Report:
    """Stands in for a MigrateReport that was not validated."""

    validation = None
    live = None


def _failing(name: str) -> Callable[[TableJob], _Report]:
    def run_one(job: TableJob) -> _Report:
        if job.source_table == name:
            raise FatalError("boom")
        return _Report()

    return run_one


def test_one_failing_table_does_not_stop_the_others_unless_fail_fast() -> None:
    jobs = [TableJob(TableSpec(name=n), n, n) for n in ("a", "b", "c")]
    outcomes = run_tables(jobs, _failing("b"), concurrency=1, fail_fast=False)  # type: ignore[arg-type]
    assert [o.status for o in outcomes] == ["copied", "failed", "copied"]
    assert outcomes[1].error == "boom"
    fast = run_tables(jobs, _failing("a"), concurrency=1, fail_fast=True)  # type: ignore[arg-type]
    assert [o.status for o in fast] == ["failed", "skipped", "skipped"]


def test_step_retries_resume_only_as_often_as_the_step_allows() -> None:
    calls: list[int] = []

    def flaky() -> _Report:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("503")
        return _Report()

    with_step_retries(flaky, failed_step=lambda: "import", retries={"import": 3})  # type: ignore[arg-type]
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(TransientError):
        with_step_retries(flaky, failed_step=lambda: "export", retries={"import": 3})  # type: ignore[arg-type]
    assert len(calls) == 1


def test_the_engine_is_named_in_the_file_and_spark_workers_count_tasks(tmp_path: Path) -> None:
    assert load_pipeline(write(tmp_path, GOOD)).engine.name == "local"
    spec = load_pipeline(write(tmp_path, GOOD + "engine: spark\nspark_master: local[4]\n"))
    assert (spec.engine.name, spec.engine.spark_master, spec.engine.spark_tasks) == (
        "spark",
        "local[4]",
        8,
    )
    many = GOOD.replace("workers: 8", "workers: 400") + "engine: spark\n"
    assert load_pipeline(write(tmp_path, many)).engine.spark_tasks == 400  # tasks, not cores


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("engine: ray\n", "pipeline.yaml:29: engine: 'ray' is not one of local, spark"),
        ("spark_master: local[2]\n", "pipeline.yaml:29: spark_master: needs engine: spark"),
        ("engine: 3\n", "pipeline.yaml:29: engine: '3' is not one of local, spark"),
    ],
)
def test_engine_keys_that_do_not_fit_are_refused(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_pipeline(write(tmp_path, GOOD + extra))


# --- YAML errors and secrets: one line, file:line, nothing secret echoed ------------------------

SECRET = "s3cr3t-T0KEN"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        # A tag PyYAML's full loader would run: refused with its line, never constructed.
        (
            GOOD.replace(
                "staging: s3://bucket-in-b/migrations/", "staging: !!python/name:os.system"
            ),
            8,
            "staging: a YAML tag (!!...) that a pipeline file does not accept",
        ),
        (
            GOOD.replace(
                "  external_id: move-2026", '  external_id: !!python/object/apply:os.system ["id"]'
            ),
            7,
            "external_id: a YAML tag (!!...) that a pipeline file does not accept",
        ),
        # A key indented one space too far.
        (
            GOOD.replace("  region: eu-west-1", f"   region: {SECRET}"),
            4,
            "region: a 'key:' where a value goes on: this line is indented further than the keys",
        ),
        (
            GOOD + "log_location: 2024-13-01\n",
            29,
            "log_location: a value that cannot be read (month must be in 1..12)",
        ),
        (
            GOOD.replace("  external_id: move-2026", f"\texternal_id: {SECRET}"),
            7,
            "external_id: a tab character: indent with spaces only",
        ),
    ],
    ids=["python-name-tag", "python-apply-tag", "bad-indentation", "bad-date", "tab-indent"],
)
def test_yaml_errors_are_one_line_naming_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    message = info.value.message
    assert message.startswith(f"{path}:{line}: "), message
    assert problem in message
    assert "\n" not in message
    assert SECRET not in str(info.value)
    assert SECRET not in (info.value.hint or "")


def test_an_unquoted_numeric_external_id_is_the_text_written(tmp_path: Path) -> None:
    """YAML reads ``123456`` as a number: the message used to echo it; it is the id."""
    for written in ("123456", "0012345670", "1.5e3"):
        text = GOOD.replace("  external_id: move-2026", f"  external_id: {written}")
        spec = load_pipeline(write(tmp_path, text))
        assert spec.dest.external_id == written  # as written: leading zeros kept


def test_a_secret_of_the_wrong_type_is_never_echoed(tmp_path: Path) -> None:
    text = GOOD.replace("  external_id: move-2026", "  external_id: [123456]")
    with pytest.raises(ConfigError) as info:
        load_pipeline(write(tmp_path, text))
    assert "destination.external_id" in info.value.message
    assert "123456" not in str(info.value)
    text = GOOD.replace("  external_id: move-2026", "  external_id: true")
    with pytest.raises(ConfigError) as info:
        load_pipeline(write(tmp_path, text))
    assert "expected text, got a value not shown here (it may be secret)" in info.value.message
    assert "True" not in info.value.message


def test_a_webhook_that_is_not_http_is_refused_without_showing_it(tmp_path: Path) -> None:
    url = f"ftp://user:{SECRET}@hooks.example/x?token={SECRET}"
    text = GOOD.replace("  webhook: https://hooks.example/ddb", f"  webhook: {url}")
    with pytest.raises(ConfigError) as info:
        load_pipeline(write(tmp_path, text))
    assert info.value.message.endswith(
        "pipeline.yaml:27: notify.webhook: not an http:// or https:// URL "
        "(the value is not shown: it may hold a secret)"
    )
    assert SECRET not in str(info.value)
    assert "user" not in str(info.value)


def test_settings_and_strict_settings_are_read(tmp_path: Path) -> None:
    assert load_pipeline(write(tmp_path, GOOD)).settings == ALL
    spec = load_pipeline(write(tmp_path, GOOD + "settings: ttl,tags\nstrict_settings: true\n"))
    assert spec.settings == {"ttl", "tags"}
    assert spec.strict_settings is True
    assert load_pipeline(write(tmp_path, GOOD + "settings: keys-only\n")).settings == frozenset()
    with pytest.raises(ConfigError, match=r"yaml:29: settings: .*unknown setting.*pirt"):
        load_pipeline(write(tmp_path, GOOD + "settings: pirt\n"))


def test_a_table_may_load_by_bulk_and_boost_its_capacity(tmp_path: Path) -> None:
    extra = (
        "    import_method: bulk\n    bulk_max_wru: 2048\n    bulk_tier: ACCELERATED\n"
        "    boost: 400\n    boost_source: 300\n"
    )
    text = GOOD.replace("    validate: false\n", "    validate: false\n" + extra)
    orders = load_pipeline(write(tmp_path, text)).tables[1]
    assert (orders.import_method, orders.bulk_max_wru, orders.bulk_tier) == (
        "bulk",
        2048,
        "ACCELERATED",
    )
    assert (orders.boost, orders.boost_source) == (400, 300)
    with pytest.raises(ConfigError, match=r"bulk_tier: expected one of STANDARD, ACCELERATED"):
        load_pipeline(write(tmp_path, text.replace("ACCELERATED", "FAST")))


def test_a_tables_bulk_and_boost_keys_reach_its_migrate_options(tmp_path: Path) -> None:
    from ddbmigrate import api  # noqa: PLC0415 - the wiring, only for this test
    from ddbmigrate.notify import MultiNotifier  # noqa: PLC0415
    from ddbmigrate.ports import NullObserver  # noqa: PLC0415
    from ddbmigrate.wiring.tables import _PipelineRun  # noqa: PLC0415

    extra = "    import_method: bulk\n    bulk_max_wru: 2048\n    boost: 400\n"
    spec = load_pipeline(
        write(tmp_path, GOOD.replace("    validate: false\n", "    validate: false\n" + extra))
    )
    run = _PipelineRun(
        spec,
        observer=NullObserver(),
        notifications=MultiNotifier([], on_error=lambda _text: None),
        throughput=api.ThroughputOptions(),
    )
    orders = TableJob(spec.tables[1], "orders", "orders-v2")
    options = run.options_of(orders)
    assert options.import_method == "bulk"
    assert options.bulk is not None
    assert (options.bulk.max_wru, options.bulk.tier, options.boost) == (2048, "STANDARD", 400)
    assert run.plan_of(options).to_json()["bulk"] == {"max_wru": 2048, "tier": "STANDARD"}


def test_a_table_may_be_migrated_live(tmp_path: Path) -> None:
    text = GOOD.replace("    validate: false\n", "    validate: false\n    live: true\n")
    spec = load_pipeline(write(tmp_path, text))
    assert [t.live for t in spec.tables] == [False, True, False]
    bad = GOOD.replace("    validate: false\n", "    live: soon\n")
    with pytest.raises(ConfigError, match=r"tables\[1\]\.live: expected true or false, got 'soon'"):
        load_pipeline(write(tmp_path, bad))


class _LiveReport:
    """Stands in for the MigrateReport of a live table: caught up, run left open."""

    validation = None
    live = object()
    run_id = "20260101T000000Z-live0001"


def test_a_live_table_is_done_and_names_the_run_to_sync_or_cut_over() -> None:
    jobs = [TableJob(TableSpec(name="a", live=True), "a", "a")]
    (outcome,) = run_tables(jobs, lambda job: _LiveReport(), concurrency=1, fail_fast=False)  # type: ignore[arg-type,return-value]
    assert outcome.status == "done"
    assert outcome.note is not None
    assert "live run 20260101T000000Z-live0001" in outcome.note
