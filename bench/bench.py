"""Measure ddbmigrate export, import and migrate against dynamodump on one synthetic table.

Every command runs as its own subprocess against the same synthetic endpoint (synthetic.py,
its own process), one after the other. For each we record wall time, the CPU of the
command's whole process tree, the peak RSS of that tree, and the endpoint's own CPU over the
same interval, then print the rows, the ratios and the issue's targets (reported, never
gated). Exit 1 only when a command fails or an item count is wrong.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent  # bench/.venv/bin: ddbmigrate and dynamodump live here
TABLE = "bench"
REGION = "us-east-1"
SAMPLE_SECONDS = 0.1
STDERR_TAIL = 20
NOISY_CORES = 0.2  # others' average load above which the figures get a warning

Stats = dict[str, Any]  # GET /stats of the endpoint
Check = Callable[[str, Stats, Stats], str | None]  # (stdout, before, after) -> error

# dynamodump sleeps THREAD_START_DELAY (1 s) after starting each of its 25 backup threads:
# a single-table backup lands there through an AttributeError on ``args.read_capacity``. We
# set it to 0 so its figures measure its data path, not 25 s of sleeping (README).
DYNAMODUMP = (
    "import sys, dynamodump.dynamodump as d; "
    "d.THREAD_START_DELAY = 0; sys.argv[0] = 'dynamodump'; d.main()"
)


@dataclass
class Usage:
    """What one command cost: wall clock, CPU of its process tree, memory, endpoint CPU."""

    wall: float = 0.0
    cpu_wait4: float = 0.0  # the child's rusage: itself plus every descendant it reaped
    cpu_sampled: float = 0.0  # sum over the live tree, sampled: catches unreaped descendants
    peak_tree_rss: int = 0  # largest sampled sum of RSS over the tree, bytes
    max_proc_rss: int = 0  # largest single-process ru_maxrss, bytes
    endpoint_cpu: float = 0.0
    machine_cpu: float = 0.0  # busy CPU of the whole machine over the same interval
    returncode: int = 0

    @property
    def cpu(self) -> float:
        return max(self.cpu_wait4, self.cpu_sampled)

    @property
    def others(self) -> float:
        """CPU that neither the command nor the endpoint used: other work on the machine."""
        return max(0.0, self.machine_cpu - self.cpu - self.endpoint_cpu)


@dataclass
class Step:
    """One measured command and the check that its items all arrived."""

    name: str
    group: str  # "lean", "boto3" or "dynamodump"
    argv: list[str]
    env: dict[str, str]
    check: Check
    needs: str | None = None  # a step whose output this one reads
    cwd: Path | None = None


@dataclass
class Result:
    step: Step
    items: int
    usage: Usage
    error: str | None = None
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


# -- the endpoint ------------------------------------------------------------------------


class Endpoint:
    """synthetic.py in its own process, so its CPU is neither ours nor the client's."""

    def __init__(self, items: int, log: Path, *, latency_ms: float = 0.0) -> None:
        self._log = log.open("w")
        argv = [sys.executable, str(HERE / "synthetic.py"), "--items", str(items), "--port", "0"]
        self.process = subprocess.Popen(
            [*argv, "--latency-ms", str(latency_ms)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise SystemExit(f"synthetic endpoint did not start; see {log}")
        self.port = self.url.rsplit(":", 1)[1]

    def stats(self) -> Stats:
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def add_records(self, records: int) -> None:
        """Append ``records`` generated records to every enabled stream of the endpoint."""
        url = f"{self.url}/stream?records={records}"
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self._log.close()


# -- measuring one command ---------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Samples RSS and CPU of a process and all its descendants every SAMPLE_SECONDS."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.stop = threading.Event()
        self.peak_rss = 0
        self.cpu_by_pid: dict[int, float] = {}  # last CPU seen per process, kept after exit

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_SECONDS):
            try:
                tree = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            self.peak_rss = max(self.peak_rss, self._sample(tree))

    def _sample(self, tree: list[psutil.Process]) -> int:
        rss = 0
        for process in tree:
            try:
                with process.oneshot():
                    rss += process.memory_info().rss
                    times = process.cpu_times()
            except psutil.Error:
                continue  # exited between listing and reading
            self.cpu_by_pid[process.pid] = times.user + times.system
        return rss

    @property
    def cpu(self) -> float:
        return sum(self.cpu_by_pid.values())


def measure(step: Step, endpoint: Endpoint, out: Path, err: Path) -> tuple[Usage, Stats, Stats]:
    """Run ``step`` to completion; its CPU comes from wait4 and from sampling its tree.

    Returns the usage and the endpoint's stats before and after the command.
    """
    before = endpoint.stats()
    busy = machine_busy()
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            step.argv, stdout=stdout, stderr=stderr, env=step.env, cwd=step.cwd
        )
        sampler = TreeSampler(process.pid)
        sampler.start()
        # wait4, not Popen.wait: its rusage includes the descendants the child reaped.
        _, status, rusage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        sampler.stop.set()
        sampler.join()
    after = endpoint.stats()
    usage = Usage(
        wall=wall,
        cpu_wait4=rusage.ru_utime + rusage.ru_stime,
        cpu_sampled=sampler.cpu,
        peak_tree_rss=sampler.peak_rss,
        max_proc_rss=rusage.ru_maxrss * 1024,  # Linux reports KiB
        endpoint_cpu=after["cpu_seconds"] - before["cpu_seconds"],
        machine_cpu=machine_busy() - busy,
        returncode=process.returncode,
    )
    return usage, before, after


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores; idle and iowait excluded)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def run_step(step: Step, items: int, endpoint: Endpoint, logs: Path) -> Result:
    out, err = logs / f"{step.name}.out", logs / f"{step.name}.err"
    usage, before, after = measure(step, endpoint, out, err)
    result = Result(step, items, usage)
    if usage.returncode != 0:
        result.error = f"FAILED: exit code {usage.returncode}"
    else:
        problem = step.check(out.read_text(), before, after)
        result.error = problem and f"FAILED: {problem}"
    if not result.ok:
        result.stderr_tail = err.read_text(errors="replace").splitlines()[-STDERR_TAIL:]
    return result


# -- the commands ------------------------------------------------------------------------


def client_env(data_plane: str | None) -> dict[str, str]:
    """A clean environment: fake credentials, no profile or endpoint from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DDBMIGRATE_"))}
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # the endpoint ignores signatures
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    if data_plane is not None:
        env["DDBMIGRATE_DATA_PLANE"] = data_plane
    return env


def ours(args: argparse.Namespace, url: str, tmp: Path, plane: str) -> list[Step]:
    """ddbmigrate export, import of that export, and migrate, on one data plane."""
    env = client_env(None if plane == "lean" else plane)
    suffix = "" if plane == "lean" else f"-{plane}"
    common = ["--workers", str(args.workers), "--progress", "off", "--json"]
    if args.engine != "local":
        common += ["--engine", args.engine]
    if args.engine == "spark":
        common += ["--spark-master", args.spark_master]
    source = ["--source-table", TABLE, "--source-endpoint-url", url, "--source-region", REGION]
    dest = ["--dest-endpoint-url", url, "--dest-region", REGION]
    staging = str(tmp / f"export-{plane}")
    ddbmigrate = str(BIN / "ddbmigrate")
    export = Step(
        name=f"export-{plane}",
        group=plane,
        argv=[ddbmigrate, "export", *source, "--staging", staging, *common],
        env=env,
        check=_exported(args.items),
    )
    imported = Step(
        name=f"import-{plane}",
        group=plane,
        argv=[ddbmigrate, "import", staging, "--table", f"bench-import{suffix}", *dest, *common],
        env=env,
        check=_written(f"bench-import{suffix}", args.items),
        needs=export.name,
    )
    migrate = Step(
        name=f"migrate-{plane}",
        group=plane,
        argv=[
            *(ddbmigrate, "migrate", *source, "--dest-table", f"bench-migrate{suffix}", *dest),
            *("--staging", str(tmp / f"migrate-{plane}"), "--no-validate", *common),
        ],
        env=env,
        check=_written(f"bench-migrate{suffix}", args.items),
    )
    return [export, imported, migrate]


def theirs(args: argparse.Namespace, port: str, tmp: Path) -> list[Step]:
    """dynamodump backup of the table and restore into a new one.

    It has no thread option for a single table, so it runs as it always does: one thread.
    """
    python = sys.executable
    common = [
        *("-r", REGION, "--host", "127.0.0.1", "--port", port),
        *("--accessKey", "bench", "--secretKey", "bench", "--dumpPath", str(tmp / "dump")),
    ]
    backup = Step(
        name="dynamodump-backup",
        group="dynamodump",
        argv=[python, "-c", DYNAMODUMP, "-m", "backup", "-s", TABLE, *common],
        env=client_env(None),
        check=_served(TABLE, args.items),
        cwd=tmp,
    )
    restore = Step(
        name="dynamodump-restore",
        group="dynamodump",
        argv=[
            *(python, "-c", DYNAMODUMP, "-m", "restore", "-s", TABLE, "-d", "bench-restore"),
            *("--noConfirm", *common),
        ],
        env=client_env(None),
        check=_written("bench-restore", args.items),
        needs=backup.name,
        cwd=tmp,
    )
    return [backup, restore]


def _exported(expected: int) -> Check:
    def check(out: str, _before: Stats, _after: Stats) -> str | None:
        results = [line for line in out.splitlines() if line.startswith("{")]
        if not results:
            return "no JSON result on stdout"
        got = json.loads(results[-1]).get("items")
        return None if got == expected else f"JSON result says {got} items, expected {expected}"

    return check


def _written(table: str, expected: int) -> Check:
    def check(_out: str, _before: Stats, after: Stats) -> str | None:
        got = after["tables"].get(table, 0)
        if got == expected:
            return None
        return f"endpoint counted {got} items written to {table!r}, expected {expected}"

    return check


def _served(table: str, expected: int) -> Check:
    def check(_out: str, before: Stats, after: Stats) -> str | None:
        got = after["served"][table] - before["served"][table]
        if got == expected:
            return None
        return f"endpoint served {got} items of {table!r}, expected {expected}"

    return check


# -- the replay scenario -----------------------------------------------------------------

LIVE_ITEMS = 1000  # the live run's copy is only its setup: keep it small
LIVE_TABLE = "bench-live"


def run_replay(args: argparse.Namespace, tmp: Path, logs: Path) -> list[Result]:
    """``migrate --live`` of a small table (its stream starts empty), then ``--records``
    generated records appended to the stream, then ``sync RUN --until-caught-up`` measured:
    the replay as the command runs it."""
    print(f"\nreplay: {args.records:,} stream records over 4 shards into {LIVE_TABLE!r}")
    print(HEADER, flush=True)
    endpoint = Endpoint(LIVE_ITEMS, logs / "synthetic-live.err", latency_ms=args.latency_ms)
    try:
        setup, sides = _live_setup(args, endpoint.url, tmp, logs, endpoint)
        results = [setup]
        run_id = _run_id(logs / f"{setup.step.name}.out") if setup.ok else None
        if run_id is not None:
            endpoint.add_records(args.records)
            step = _sync_step(args, run_id, sides)
            results.append(run_step(step, args.records, endpoint, logs))
            print(row(results[-1]), flush=True)
            for line in results[-1].stderr_tail:
                print(f"    | {line}", flush=True)
    finally:
        endpoint.stop()
    return results


def _live_setup(
    args: argparse.Namespace, url: str, tmp: Path, logs: Path, endpoint: Endpoint
) -> tuple[Result, list[str]]:
    sides = [
        *("--source-endpoint-url", url, "--source-region", REGION),
        *("--dest-endpoint-url", url, "--dest-region", REGION),
        *("--staging", str(tmp / "live")),
    ]
    ddbmigrate = str(BIN / "ddbmigrate")
    step = Step(
        name="live-setup",
        group="replay",
        argv=[
            *(ddbmigrate, "migrate", "--live", "--source-table", TABLE, "--dest-table"),
            *(LIVE_TABLE, *sides, "--progress", "off", "--json"),
        ],
        env=client_env(None),
        check=_written(LIVE_TABLE, LIVE_ITEMS),
    )
    result = run_step(step, LIVE_ITEMS, endpoint, logs)
    print(row(result), flush=True)
    for line in result.stderr_tail:
        print(f"    | {line}", flush=True)
    return result, sides


def _sync_step(args: argparse.Namespace, run_id: str, sides: list[str]) -> Step:
    ddbmigrate = str(BIN / "ddbmigrate")
    argv = [ddbmigrate, "sync", run_id, "--until-caught-up", *sides, "--progress", "off"]
    return Step(
        name="replay",
        group="replay",
        argv=argv,
        env=client_env(None),
        check=_added(LIVE_TABLE, args.records),
    )


def _run_id(out: Path) -> str | None:
    results = [line for line in out.read_text().splitlines() if line.startswith("{")]
    if not results:
        return None
    live = json.loads(results[-1]).get("live") or {}
    return live.get("run_id")  # type: ignore[no-any-return]


def _added(table: str, expected: int) -> Check:
    def check(_out: str, before: Stats, after: Stats) -> str | None:
        got = after["tables"].get(table, 0) - before["tables"].get(table, 0)
        if got == expected:
            return None
        return f"endpoint counted {got} records applied to {table!r}, expected {expected}"

    return check


# -- running and reporting ---------------------------------------------------------------

LABELS = {
    "export-lean": "ddbmigrate export",
    "import-lean": "ddbmigrate import",
    "migrate-lean": "ddbmigrate migrate",
    "export-boto3": "export, boto3 path",
    "import-boto3": "import, boto3 path",
    "migrate-boto3": "migrate, boto3 path",
    "dynamodump-backup": "dynamodump backup",
    "dynamodump-restore": "dynamodump restore",
    "live-setup": "migrate --live (setup)",
    "replay": "ddbmigrate sync (replay)",
}
HEADER = (
    f"{'command':<22}{'items':>10}{'wall s':>9}{'items/s':>10}{'CPU µs/item':>13}"
    f"{'tree RSS MB':>13}{'proc RSS MB':>13}{'endpoint µs/item':>18}"
)
MB = 1024 * 1024


def row(result: Result) -> str:
    usage, n = result.usage, result.items
    label = LABELS.get(result.step.name, result.step.name)
    if not result.ok:
        return f"{label:<22}{n:>10,}  {result.error}"
    return (
        f"{label:<22}{n:>10,}{usage.wall:>9.2f}{n / usage.wall:>10,.0f}"
        f"{usage.cpu / n * 1e6:>13.1f}{usage.peak_tree_rss / MB:>13.1f}"
        f"{usage.max_proc_rss / MB:>13.1f}{usage.endpoint_cpu / n * 1e6:>18.1f}"
    )


def run_all(steps: list[Step], items: int, endpoint: Endpoint, logs: Path) -> list[Result]:
    """Run the steps in order, printing each row as it completes."""
    print(HEADER, flush=True)
    done: dict[str, Result] = {}
    for step in steps:
        needed = done.get(step.needs or "")
        if needed is not None and not needed.ok:
            result = Result(
                step, items, Usage(), error=f"skipped: {LABELS[needed.step.name]} failed"
            )
        else:
            result = run_step(step, items, endpoint, logs)
        done[step.name] = result
        print(row(result), flush=True)
        for line in result.stderr_tail:
            print(f"    | {line}", flush=True)
    return list(done.values())


def startup_cpu(argv: list[str]) -> float:
    """CPU seconds of a command that only starts and exits: the fixed cost in every row."""
    usage = os.wait4(subprocess.Popen(argv, stdout=subprocess.DEVNULL).pid, 0)[2]
    return usage.ru_utime + usage.ru_stime


def data_plane_switch_present() -> bool:
    """Whether the installed ddbmigrate reads DDBMIGRATE_DATA_PLANE at all (issue 6 adds it)."""
    spec = importlib.util.find_spec("ddbmigrate")
    if spec is None or spec.origin is None:
        return False
    package = Path(spec.origin).parent
    return any("DDBMIGRATE_DATA_PLANE" in f.read_text() for f in package.rglob("*.py"))


def print_header(args: argparse.Namespace, planes: list[str]) -> None:
    print(
        f"ddbmigrate bench: {args.items:,} items of 1,024 bytes, {args.workers} workers, "
        f"engine {args.engine}{f' on {args.spark_master}' if args.engine == 'spark' else ''}, "
        f"data plane {'+'.join(planes) or 'none'}, endpoint latency {args.latency_ms:g} ms"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}, load average {os.getloadavg()[0]:.2f}"
    )
    ours_start = startup_cpu([str(BIN / "ddbmigrate"), "--version"])
    theirs_start = startup_cpu([sys.executable, "-c", DYNAMODUMP, "--help"])
    print(
        f"start-up CPU (included in every row): ddbmigrate {ours_start * 1e3:.0f} ms "
        f"= {ours_start / args.items * 1e6:.1f} µs/item, dynamodump {theirs_start * 1e3:.0f} ms "
        f"= {theirs_start / args.items * 1e6:.1f} µs/item"
    )
    if "boto3" in planes and not data_plane_switch_present():
        print("note: this ddbmigrate does not read DDBMIGRATE_DATA_PLANE yet: the boto3 rows "
              "run the lean path too")  # fmt: skip
    print()


def print_cpu_sources(results: list[Result]) -> None:
    ran = [result for result in results if result.ok]
    if not ran:
        return
    print("\nCPU seconds: client tree by wait4 / by sampling (the larger is used), endpoint, "
          "and other processes on the machine during the command:")  # fmt: skip
    for result in ran:
        usage = result.usage
        label = LABELS.get(result.step.name, result.step.name)
        print(f"  {label:<22}{usage.cpu_wait4:>8.2f} /{usage.cpu_sampled:>7.2f}"
              f"   endpoint {usage.endpoint_cpu:>5.2f}"
              f" ({usage.endpoint_cpu / usage.cpu:>3.0%} of the client's)"
              f"   others {usage.others:>6.2f}")  # fmt: skip
    busy = sum(r.usage.others for r in ran) / sum(r.usage.wall for r in ran)
    if busy > NOISY_CORES:
        print(f"  note: other processes kept {busy:.2f} cores busy on average: the machine was "
              "shared, so wall times (more than CPU) are pessimistic")  # fmt: skip


def per_item(result: Result | None) -> float | None:
    """Client CPU µs per item, or None when the command did not run or failed."""
    if result is None or not result.ok:
        return None
    return result.usage.cpu / result.items * 1e6


def rate(result: Result | None) -> float | None:
    if result is None or not result.ok:
        return None
    return result.items / result.usage.wall


def print_ratios(title: str, pairs: list[tuple[str, str, str]], by_name: dict[str, Result]) -> None:
    """``pairs`` of (label, numerator step, denominator step): wall and CPU per item ratios."""
    lines = []
    for label, top, bottom in pairs:
        a, b = by_name.get(top), by_name.get(bottom)
        cpu_a, cpu_b = per_item(a), per_item(b)
        if a is None or b is None or cpu_a is None or cpu_b is None:
            continue
        wall = a.usage.wall / b.usage.wall
        cpu = cpu_a / cpu_b
        lines.append(
            f"  {label:<20} wall {wall:>5.2f} {_times(wall, 'faster', 'slower'):<16}"
            f"CPU/item {cpu:>5.2f} {_times(cpu, 'less CPU', 'more CPU')}"
        )
    if lines:
        print(f"\n{title}")
        print("\n".join(lines))


def _times(ratio: float, better: str, worse: str) -> str:
    """0.25 -> "(4.0x faster)", 2.0 -> "(2.0x slower)" for a ratio of ours to theirs."""
    return f"({1 / ratio:.1f}x {better})" if ratio <= 1 else f"({ratio:.1f}x {worse})"


@dataclass
class Target:
    label: str
    value: float | None  # None: the command did not run
    unit: str
    met: Callable[[float], bool]
    note: str = ""

    def line(self) -> str:
        if self.value is None:
            return f"  {self.label:<48}{'-':>12}   not measured"
        status = self.note or ("met" if self.met(self.value) else "NOT MET")
        return f"  {self.label:<48}{self.value:>12,.1f} {self.unit:<8} {status}"


def targets(args: argparse.Namespace, by_name: dict[str, Result]) -> list[Target]:
    """The issue's targets for the lean path; reported, never gated."""
    get = by_name.get
    two = "" if args.workers == 2 else f"n/a: the target is for 2 workers, ran {args.workers}"
    fewer = [_times_fewer(get("export-lean"), get("dynamodump-backup")),
             _times_fewer(get("import-lean"), get("dynamodump-restore"))]  # fmt: skip
    faster = [_times_faster(get("export-lean"), get("dynamodump-backup")),
              _times_faster(get("import-lean"), get("dynamodump-restore"))]  # fmt: skip
    rss = [r.usage.peak_tree_rss / MB for r in by_name.values() if r.ok and r.step.group == "lean"]
    million = "" if args.items >= 1_000_000 else "n/a: the target is for 1,000,000 items"
    return [
        Target("export CPU ≤ 60 µs/item (incl. compression)", per_item(get("export-lean")),
               "µs/item", lambda v: v <= 60),
        Target("import CPU ≤ 70 µs/item", per_item(get("import-lean")), "µs/item",
               lambda v: v <= 70),
        Target("export ≥ 20,000 items/s (2 workers)", rate(get("export-lean")), "items/s",
               lambda v: v >= 20_000, two),
        Target("import ≥ 15,000 items/s (2 workers)", rate(get("import-lean")), "items/s",
               lambda v: v >= 15_000, two),
        Target("migrate, no validation ≥ 8,000 items/s (2 w.)", rate(get("migrate-lean")),
               "items/s", lambda v: v >= 8_000, two),
        Target("export vs backup: ≥ 5x fewer CPU µs/item", fewer[0], "x", lambda v: v >= 5),
        Target("import vs restore: ≥ 5x fewer CPU µs/item", fewer[1], "x", lambda v: v >= 5),
        Target("export vs backup: faster wall time", faster[0], "x", lambda v: v > 1),
        Target("import vs restore: faster wall time", faster[1], "x", lambda v: v > 1),
        Target("peak tree RSS < 400 MB (at 1,000,000 items)", max(rss, default=None), "MB",
               lambda v: v < 400, million),
    ]  # fmt: skip


def _times_fewer(ours: Result | None, theirs: Result | None) -> float | None:
    a, b = per_item(ours), per_item(theirs)
    return None if a is None or b is None else b / a


def _times_faster(ours: Result | None, theirs: Result | None) -> float | None:
    if ours is None or theirs is None or not ours.ok or not theirs.ok:
        return None
    return theirs.usage.wall / ours.usage.wall


def report(args: argparse.Namespace, results: list[Result], unknown: dict[str, int]) -> None:
    by_name = {result.step.name: result for result in results}
    print_cpu_sources(results)
    print_ratios(
        "lean vs boto3 data path (lean / boto3):",
        [(kind, f"{kind}-lean", f"{kind}-boto3") for kind in ("export", "import", "migrate")],
        by_name,
    )
    print_ratios(
        "ddbmigrate vs dynamodump (ours / theirs):",
        [("export vs backup", "export-lean", "dynamodump-backup"),
         ("import vs restore", "import-lean", "dynamodump-restore")],
        by_name,
    )  # fmt: skip
    print("\ntargets (reported, never gated):")
    for target in targets(args, by_name):
        print(target.line())
    if unknown:
        print(f"\nendpoint: unknown operations were called: {unknown}")


def report_replay(results: list[Result]) -> None:
    """The issue's replay targets: 2 workers is the tool's default for the replay here."""
    replay = next((r for r in results if r.step.name == "replay"), None)
    print_cpu_sources(results)
    print("\nreplay targets (reported, never gated):")
    for target in (
        Target("replay ≥ 10,000 records/s", rate(replay), "rec/s", lambda v: v >= 10_000),
        Target("replay CPU ≤ 80 µs/record", per_item(replay), "µs/rec", lambda v: v <= 80),
    ):
        print(target.line())


# -- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000, help="items in the table")
    parser.add_argument("--workers", type=int, default=2, help="ddbmigrate --workers")
    parser.add_argument(
        "--engine", default="local", help="passed as ddbmigrate --engine NAME unless 'local'"
    )
    parser.add_argument(
        "--spark-master",
        default="local[2]",
        help="with --engine spark: passed as ddbmigrate --spark-master URL",
    )
    parser.add_argument(
        "--data-plane",
        choices=("lean", "boto3", "both"),
        default="both",
        help="ddbmigrate data paths to measure (boto3: DDBMIGRATE_DATA_PLANE=boto3)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay the endpoint adds to every DynamoDB answer (served concurrently), "
        "to stand in for the network between a client and AWS",
    )
    parser.add_argument(
        "--scenario",
        choices=("copy", "replay", "all", "lag"),
        default="all",
        help="copy: export, import, migrate (and dynamodump); replay: a live run's sync; "
        "all: both; lag: the replay's lag on moto under a writer (lag.py; needs moto)",
    )
    parser.add_argument(
        "--lag-rate", type=float, default=500.0, help="lag: the writer's changes per second"
    )
    parser.add_argument(
        "--lag-seconds", type=float, default=60.0, help="lag: how long the writer runs"
    )
    parser.add_argument(
        "--records", type=int, default=200_000, help="stream records the replay scenario applies"
    )
    parser.add_argument("--skip-dynamodump", action="store_true", help="do not run dynamodump")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.items < 1 or args.records < 1:
        parser.error("--items and --records must be at least 1")
    if not 0 <= args.latency_ms <= 10_000:
        parser.error("--latency-ms must be between 0 and 10000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scenario == "lag":
        import lag  # noqa: PLC0415 - needs moto, which only this scenario installs

        return lag.main(["--rate", str(args.lag_rate), "--seconds", str(args.lag_seconds)])
    planes = ["lean", "boto3"] if args.data_plane == "both" else [args.data_plane]
    tmp = Path(tempfile.mkdtemp(prefix="ddbmigrate-bench-"))
    try:
        results = run_bench(args, planes, tmp)
    finally:
        if args.keep:
            print(f"\nkept {tmp} (exports, dump, logs)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all(result.ok for result in results) else 1


def run_bench(args: argparse.Namespace, planes: list[str], tmp: Path) -> list[Result]:
    logs = tmp / "logs"
    logs.mkdir()
    print_header(args, planes)
    results = run_copy(args, planes, tmp, logs) if args.scenario != "replay" else []
    if args.scenario != "copy":
        replayed = run_replay(args, tmp, logs)
        report_replay(replayed)
        results += replayed
    for result in results:
        if not result.ok:
            print(f"{LABELS[result.step.name]}: {result.error}")
    return results


def run_copy(args: argparse.Namespace, planes: list[str], tmp: Path, logs: Path) -> list[Result]:
    endpoint = Endpoint(args.items, logs / "synthetic.err", latency_ms=args.latency_ms)
    try:
        steps = [step for plane in planes for step in ours(args, endpoint.url, tmp, plane)]
        if not args.skip_dynamodump:
            steps += theirs(args, endpoint.port, tmp)
        results = run_all(steps, args.items, endpoint, logs)
        unknown = endpoint.stats()["unknown_operations"]
    finally:
        endpoint.stop()
    report(args, results, unknown)
    return results


if __name__ == "__main__":
    sys.exit(main())
