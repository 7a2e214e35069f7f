"""The Spark engine on ``local[2]`` against moto server: export, import, migrate with
validation, rejects and the refusals made before any data moves, each compared with the
local engine where there is something to compare.

One SparkSession serves the whole module (a JVM costs 5-10 s to start); the api finds it
as the session running in this process, as it would under spark-submit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyspark
import pytest

from alltypes import create_source
from ddbmigrate import api
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.engines.local import INTERRUPT, Shared
from ddbmigrate.engines.spark import SparkEngine, open_session
from ddbmigrate.errors import CredentialsError, FatalError, Interrupted
from ddbmigrate.local.demo import scan_items
from ddbmigrate.local.demo_data import customer_items
from ddbmigrate.local.env import BUCKET, DEST_ACCOUNT, DEST_ROLE, SOURCE_ROLE, LocalAWS, bootstrap
from ddbmigrate.local.server import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, MotoServer
from ddbmigrate.model import Item
from ddbmigrate.pipeline import MigrateOptions
from ddbmigrate.runs import RejectLimitError, RejectsError
from itemcompare import assert_same_items, dynamodb_client
from livechanges import AFTER_CHANGES, SOURCE_ITEMS, Writer, later_changes
from tables import make_customer_table

pytestmark = [pytest.mark.integration]
if pyspark.__version__.startswith("3."):
    # pyspark 3.5 leaves the socket of every collect() (which foreachPartition runs) for the
    # garbage collector; 4.x closes it. EMR and Glue ship 3.5, so the module runs on it too.
    pytestmark.append(pytest.mark.filterwarnings("ignore::ResourceWarning"))
    pytestmark.append(pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"))

SPARK = EngineChoice(name="spark")
HERE = Path(__file__).parent
ITEMS = 90
SEGMENTS = 4


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``local[2]``, started the way ddbmigrate starts one, with the executors' environment
    fixed at the JVM's start: the embedded AWS's base credentials and nothing of the host's
    AWS setup; this folder on the Python path for the test's own job objects."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("AWS_")]:
            patch.delenv(name)
        nothing = str(tmp_path_factory.mktemp("aws") / "none")
        patch.setenv("AWS_CONFIG_FILE", nothing)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", nothing)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
        patch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)
        patch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), *sys.path]))
        session, started = open_session("local[2]")
    assert started
    yield session
    session.stop()


@pytest.fixture(scope="module")
def local_aws(moto_server: MotoServer) -> LocalAWS:
    env = LocalAWS(endpoint_url=moto_server.endpoint_url)
    bootstrap(env)
    return env


@pytest.fixture
def aws(local_aws: LocalAWS, aws_env: None, spark: Any) -> LocalAWS:
    return local_aws


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def create_table(aws: LocalAWS, table: str, items: list[Item]) -> None:
    make_customer_table(
        aws,
        table,
        items=items,
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 400, "WriteCapacityUnits": 400},
    )


def by_key(items: list[Item]) -> dict[tuple[str, str], bytes]:
    return {
        (i["name"]["S"], i["city"]["S"]): orjson.dumps(i, option=orjson.OPT_SORT_KEYS)
        for i in items
    }


def manifest(aws: LocalAWS, export_url: str) -> list[tuple[str, int, str]]:
    """(part name, items, MD5) of every file an export's manifest lists."""
    prefix = export_url.removeprefix(f"s3://{BUCKET}/")
    s3 = aws.client(DEST_ROLE, "s3")
    body = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/manifest-files.json")["Body"].read()
    entries = [orjson.loads(line) for line in body.splitlines() if line.strip()]
    return sorted(
        ("/".join(e["dataFileS3Key"].rsplit("/", 2)[-2:]), e["itemCount"], e["md5Checksum"])
        for e in entries
    )


def summary(aws: LocalAWS, export_url: str) -> dict[str, Any]:
    prefix = export_url.removeprefix(f"s3://{BUCKET}/")
    s3 = aws.client(DEST_ROLE, "s3")
    body = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/manifest-summary.json")["Body"].read()
    return dict(orjson.loads(body))


class Messages:
    """An observer that keeps the log lines and the progress per step."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.items: dict[str, int] = {}
        self._lock = threading.Lock()

    def step_started(self, step: str, *, total: int | None) -> None:
        return None

    def advanced(self, step: str, items: int) -> None:
        with self._lock:
            self.items[step] = self.items.get(step, 0) + items

    def message(self, text: str) -> None:
        self.lines.append(text)

    def step_finished(self, step: str, *, summary: str) -> None:
        return None


def export_on(aws: LocalAWS, table: str, engine: EngineChoice) -> tuple[api.ExportResult, str]:
    """An export in a staging folder of its own (with a local engine of one process)."""
    staging = f"s3://{BUCKET}/{unique('spark-export')}/"
    result = api.export(
        source=aws.source,
        table=table,
        # The source exports into the destination's bucket: name its owner, as AWS requires.
        staging=api.StagingOptions(url=staging, bucket_owner=DEST_ACCOUNT),
        segments=SEGMENTS,
        workers=1,
        part_max_items=15,  # several parts per segment
        engine=engine,
    )
    return result, staging


def test_an_export_on_spark_writes_the_manifests_the_local_engine_writes(aws: LocalAWS) -> None:
    table = unique("spark-src")
    create_table(aws, table, customer_items(ITEMS))

    on_spark, _ = export_on(aws, table, SPARK)
    on_local, _ = export_on(aws, table, EngineChoice())

    assert on_spark.item_count == on_local.item_count == ITEMS
    assert manifest(aws, on_spark.url) == manifest(aws, on_local.url)
    assert [p.key for p in on_spark.parts] == [f"data/{s:06d}-00000.json.gz" for s in range(4)]
    spark_summary, local_summary = summary(aws, on_spark.url), summary(aws, on_local.url)
    assert spark_summary["itemCount"] == local_summary["itemCount"] == ITEMS


def test_an_import_on_spark_writes_every_item_once_and_records_each_file(aws: LocalAWS) -> None:
    table = unique("spark-imp")
    items = customer_items(ITEMS, seed=5)
    create_table(aws, table, items)
    exported, _ = export_on(aws, table, SPARK)
    observer = Messages()

    result = api.import_(
        dest=aws.dest,
        source_url=exported.url,
        table=f"{table}-copy",
        engine=SPARK,
        observer=observer,
    )

    assert result.item_count == ITEMS
    assert result.files == len(exported.parts)
    assert by_key(scan_items(aws.dest, f"{table}-copy")) == by_key(items)
    assert observer.items["import"] == ITEMS  # progress replayed from every task
    assert any(line.startswith("spark tasks    2 at once") for line in observer.lines)
    run = api.status(staging=api.StagingOptions(url=exported.url + "/"), side=aws.dest)[0]
    assert (run.finished, run.files_imported, run.items_imported) == (
        True,
        len(exported.parts),
        ITEMS,
    )


def test_a_migrate_on_spark_validates_like_one_on_the_local_engine(aws: LocalAWS) -> None:
    table = unique("spark-mig")
    items = customer_items(ITEMS, seed=9)
    create_table(aws, table, items)
    reports = {}
    for name, engine in (("spark", SPARK), ("local", EngineChoice())):
        observer = Messages()
        reports[name] = api.migrate(
            source=aws.source,
            dest=aws.dest,
            staging=api.StagingOptions(url=f"s3://{BUCKET}/{unique('spark-mig')}/"),
            options=MigrateOptions(
                source_table=table,
                dest_table=f"{table}-{name}",
                segments=SEGMENTS,
                workers=1,
                part_max_items=20,
            ),
            observer=observer,
            engine=engine,
        )
        assert by_key(scan_items(aws.dest, f"{table}-{name}")) == by_key(items)

    spark_report, local_report = reports["spark"], reports["local"]
    assert manifest(aws, spark_report.export.url) == manifest(aws, local_report.export.url)
    assert spark_report.imported.item_count == local_report.imported.item_count == ITEMS
    assert spark_report.validation is not None
    assert local_report.validation is not None
    assert spark_report.validation.matches
    spark_verdict = {**spark_report.validation.to_dict(), "seconds": 0, "dest_table": ""}
    local_verdict = {**local_report.validation.to_dict(), "seconds": 0, "dest_table": ""}
    assert spark_verdict == local_verdict


def test_a_mismatch_found_on_spark_names_the_keys(aws: LocalAWS) -> None:
    table = unique("spark-val")
    items = customer_items(40, seed=2)
    create_table(aws, table, items)
    api.migrate(
        source=aws.source,
        dest=aws.dest,
        staging=api.StagingOptions(url=f"s3://{BUCKET}/{unique('spark-val')}/"),
        options=MigrateOptions(source_table=table, dest_table=table, validate=False, workers=1),
    )
    victim = items[7]
    key = {"name": victim["name"], "city": victim["city"]}
    aws.client(DEST_ROLE, "dynamodb").delete_item(TableName=table, Key=key)

    report = api.validate(
        source=aws.source,
        dest=aws.dest,
        source_table=table,
        dest_table=table,
        segments=SEGMENTS,
        engine=SPARK,
    )

    assert not report.matches
    assert report.missing == [f'name="{victim["name"]["S"]}", city="{victim["city"]["S"]}"']
    assert (report.source_count, report.dest_count) == (40, 39)


def test_rejects_of_spark_tasks_are_recorded_and_counted_by_the_driver(
    aws: LocalAWS, tmp_path: Path
) -> None:
    good = '{{"name":{{"s":"{0}"}},"city":{{"s":"Oslo"}}}}'
    bad = '{"name":{"s":"bad"},"city":{"s":"Oslo"},"v":{"q":"1"}}'
    for name, lines in (("part-a", [good.format("a1"), bad]), ("part-b", [bad, good.format("b")])):
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    table = make_customer_table(aws, unique("spark-rej"), role=DEST_ROLE)
    source = str(tmp_path) + "/"

    with pytest.raises(RejectsError, match="2 item"):
        api.import_(dest=aws.dest, source_url=source, table=table, max_rejects=2, engine=SPARK)

    [rejects] = list(tmp_path.glob("ddbmigrate/runs/*/rejects/rejects.jsonl"))
    found = sorted(
        (r["file"], r["line"]) for r in map(orjson.loads, rejects.read_bytes().splitlines())
    )
    assert found == [("part-a", 2), ("part-b", 1)]
    assert {i["name"]["S"] for i in scan_items(aws.dest, table)} == {"a1", "b"}


def test_the_rejects_limit_stops_a_spark_import(aws: LocalAWS, tmp_path: Path) -> None:
    bad = '{"name":{"s":"bad"},"city":{"s":"Oslo"},"v":{"q":"1"}}'
    (tmp_path / "part-a").write_text(bad + "\n")
    table = unique("spark-lim")
    aws.client(DEST_ROLE, "dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(RejectLimitError, match="part-a line 1"):
        api.import_(dest=aws.dest, source_url=str(tmp_path) + "/", table=table, engine=SPARK)


def test_executors_that_cannot_open_a_side_are_refused_before_any_data_moves(
    aws: LocalAWS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A profile this machine has and the executors do not (their environment was fixed when
    # the JVM started): a laptop's profile on a cluster.
    config = tmp_path / "config"
    config.write_text(
        "[profile only-here]\n"
        f"aws_access_key_id = {LOCAL_ACCESS_KEY}\naws_secret_access_key = {LOCAL_SECRET_KEY}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    source = api.Side(
        profile="only-here",
        role_arn=SOURCE_ROLE,
        region=aws.region,
        endpoint_url=aws.endpoint_url,
    )
    table = unique("spark-creds")
    create_table(aws, table, customer_items(3))
    staging = unique("spark-creds")

    with pytest.raises(CredentialsError) as caught:
        api.migrate(
            source=source,
            dest=aws.dest,
            staging=api.StagingOptions(url=f"s3://{BUCKET}/{staging}/"),
            options=MigrateOptions(source_table=table, dest_table=table),
            engine=SPARK,
        )

    assert caught.value.message.startswith("Spark executors cannot act as the source account")
    assert "only-here" in caught.value.message
    listed = aws.client(DEST_ROLE, "s3").list_objects_v2(Bucket=BUCKET, Prefix=staging)
    assert listed.get("KeyCount", 0) == 0
    assert aws.client(DEST_ROLE, "dynamodb").list_tables()["TableNames"].count(table) == 0


# --- the engine itself, with this module's own job objects ---


@dataclass(frozen=True)
class Slow:
    """Units that take a while, report progress, and fail when asked."""

    observer: Any
    fail: int = -1

    def run(self, unit: int, stop: threading.Event) -> int:
        time.sleep(0.4)
        self.observer.advanced("test", 1)
        if unit == self.fail:
            raise FatalError(f"unit {unit} failed")
        return unit


class Timed:
    def __init__(self) -> None:
        self.times: list[float] = []

    def advanced(self, step: str, items: int) -> None:
        self.times.append(time.monotonic())


def test_progress_arrives_as_tasks_finish_and_the_first_error_stops_the_rest(spark: Any) -> None:
    engine = SparkEngine(spark)
    observer = Timed()
    started = time.monotonic()
    assert engine.run(Slow(observer).run, list(range(6)), shared=Shared(notify=(observer,))) == [
        0,
        1,
        2,
        3,
        4,
        5,
    ]
    ended = time.monotonic()
    assert len(observer.times) == 6
    assert min(observer.times) < ended - 0.3  # the first tasks' progress came before the end
    assert min(observer.times) > started

    observer = Timed()
    with pytest.raises(FatalError, match="unit 1 failed"):
        engine.run(Slow(observer, fail=1).run, list(range(40)), shared=Shared(notify=(observer,)))
    assert len(observer.times) < 40  # the job was cancelled, not run to the end


class Interrupting:
    """Progress that, at its first unit, does what the CLI's SIGINT handler does."""

    def __init__(self) -> None:
        self.units = 0

    def advanced(self, step: str, items: int) -> None:
        self.units += 1
        INTERRUPT.set(signal.SIGINT)


def test_an_interrupt_cancels_the_spark_job_group(spark: Any) -> None:
    engine = SparkEngine(spark)
    observer = Interrupting()
    try:
        with pytest.raises(Interrupted):
            engine.run(Slow(observer).run, list(range(40)), shared=Shared(notify=(observer,)))
    finally:
        INTERRUPT.clear()
    assert observer.units < 40  # the job was cancelled, not run to the end
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []


class StartsWriter(Messages):
    """Starts ``writer`` once the live run recorded its start point (the stream's line)."""

    def __init__(self, writer: Writer) -> None:
        super().__init__()
        self.writer = writer

    def message(self, text: str) -> None:
        super().message(text)
        if text.startswith("stream ") and not self.writer.is_alive():
            self.writer.start()


class SparkJobs:
    """The unit function's name and the units of every job the Spark engine runs; with
    ``interrupt_replay``, Ctrl-C arrives as the next replay job starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.jobs: list[tuple[str, list[Any]]] = []
        self.interrupt_replay = False
        run = SparkEngine.run

        def spying(engine: SparkEngine, fn: Any, units: Any, **kwargs: Any) -> Any:
            name = getattr(fn, "__qualname__", "")
            self.jobs.append((name, list(units)))
            if self.interrupt_replay and name == "ShardJob.read":
                self.interrupt_replay = False
                INTERRUPT.set(signal.SIGINT)  # as the CLI's signal handler does
            return run(engine, fn, units, **kwargs)

        monkeypatch.setattr(SparkEngine, "run", spying)


def reads_of(jobs: list[tuple[str, list[Any]]]) -> list[list[Any]]:
    """The units of the replay's Spark jobs: (shard, mark) pairs."""
    return [units for name, units in jobs if name == "ShardJob.read"]


def test_a_live_run_synced_on_spark_cuts_over_to_identical_tables(
    aws: LocalAWS, spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = unique("spark-live")
    source, dest = (
        dynamodb_client(aws.endpoint_url, SOURCE_ROLE),
        dynamodb_client(aws.endpoint_url, DEST_ROLE),
    )
    create_source(source, table, items=SOURCE_ITEMS)
    staging = api.StagingOptions(url=f"s3://{BUCKET}/{table}/")
    spy = SparkJobs(monkeypatch)
    jobs = spy.jobs
    writer = Writer(source, table)  # during the copy and migrate's replay
    options = MigrateOptions(source_table=table, dest_table=table, live=True, workers=1)
    report = api.migrate(
        source=aws.source,
        dest=aws.dest,
        staging=staging,
        options=options,
        observer=StartsWriter(writer),
        engine=SPARK,
    )
    writer.done()
    assert report.live is not None
    run_id = report.run_id
    for _ in later_changes(source, table):  # before the sync: it must apply them
        pass
    changing = Writer(source, table, keep_going=True)  # and on, while the sync runs
    changing.client_changes = lambda _client, _table: iter(())
    changing.start()
    by_migrate = reads_of(jobs)
    spy.interrupt_replay = True
    try:
        with pytest.raises(Interrupted):
            api.sync(run_id=run_id, staging=staging, source=aws.source, dest=aws.dest, engine=SPARK)
    finally:
        INTERRUPT.clear()
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []  # the job cancelled

    synced = api.sync(  # again: resumed from the checkpoints
        run_id=run_id,
        staging=staging,
        source=aws.source,
        dest=aws.dest,
        until_caught_up=True,
        engine=SPARK,
    )
    changing.done()
    by_sync = reads_of(jobs)[len(by_migrate) :]  # the interrupted one's and the rerun's
    (listed,) = api.status(staging=staging, side=aws.dest)
    assert listed.live is not None
    assert listed.live["applied"] == synced.applied  # the checkpoints the tasks saved
    done = api.cutover_run(
        run_id=run_id,
        staging=staging,
        source=aws.source,
        dest=aws.dest,
        source_stopped=True,
        engine=SPARK,
    )

    assert done.validation.matches, done.validation.to_dict()
    assert_same_items(source, table, dest, table, count=AFTER_CHANGES)
    assert synced.applied >= report.live.applied + 3  # the later changes, read on Spark
    reads = reads_of(jobs)
    by_cutover = reads[len(by_migrate) + len(by_sync) :]
    # One task per shard (moto's one) in every pass: migrate's replay, the sync's, and the
    # cutover's drain (two quiet passes at least; the sentinel's passes keep the threads).
    assert len(by_migrate) >= 1
    assert len(by_sync) >= 2
    assert len(by_cutover) >= 2
    assert len({shard.shard_id for units in reads for shard, _ in units}) == 1
    assert all(len(units) == 1 for units in reads)
    assert jobs[-1][0] == "_Scans.digest"  # the cutover's comparison ran on Spark too
    assert done.stream_disabled
