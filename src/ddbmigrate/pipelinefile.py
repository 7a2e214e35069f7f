"""``ddbmigrate run pipeline.yaml``: a whole account move in one validated file.

Every value is checked on load; a message names the file, the line and the field, and says
what is allowed. The result is a :class:`PipelineSpec` that the CLI turns into runs, the
same way ``migrate`` flags do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ddbmigrate.config import SIDE_FIELDS, Side
from ddbmigrate.engines.base import DEFAULT_THREADS, default_workers, max_workers
from ddbmigrate.engines.choice import ENGINES, EngineChoice
from ddbmigrate.errors import ConfigError
from ddbmigrate.notify.events import BEHIND_AFTER
from ddbmigrate.settings import ALL, parse_settings
from ddbmigrate.yamlwords import at, key_on_line, yaml_error

STEPS = ("preflight", "schema", "export", "import", "validate")
_TOP = {
    "version",
    "source",
    "destination",
    "staging",
    "tables",
    "throughput",
    "steps",
    "retries",
    "workers",
    "threads",
    "fail_fast",
    "max_rejects",
    "notify",
    "log_location",
    "report_html",
    "bucket_owner",
    "parallel_tables",
    "timeouts",
    "settings",
    "strict_settings",
    "engine",
    "spark_master",
}
_TABLE = {
    "name",
    "glob",
    "to",
    "segments",
    "validate",
    "max_rejects",
    "export_method",
    "import_method",
    "bulk_max_wru",
    "bulk_tier",
    "boost",
    "boost_source",
    "live",
}
_THROUGHPUT = {"read_percent", "write_percent", "max_rcu", "max_wcu"}
_NOTIFY = {"sns", "webhook", "steps", "lag"}


@dataclass(frozen=True, kw_only=True, slots=True)
class TableSpec:
    """One entry of ``tables``: a name (or a glob) and what to do differently for it."""

    name: str | None = None
    glob: str | None = None
    to: str | None = None
    """Destination name; default the source's (a glob keeps every name)."""
    segments: int | None = None
    validate: bool = True
    max_rejects: int | None = None
    export_method: str = "scan"
    import_method: str = "batch"
    bulk_max_wru: int | None = None
    """With ``import_method: bulk``: MaxWriteRequestUnits (``--bulk-max-wru``)."""
    bulk_tier: str = "STANDARD"
    boost: int | None = None
    """The destination's write capacity for the import (``--boost``)."""
    boost_source: int | None = None
    """The source's read capacity for the export (``--boost-source``)."""
    live: bool = False
    """A live migration (``migrate --live``): the table's run stays open for ``sync`` and
    ``cutover``."""
    line: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class PipelineSpec:
    """Everything a pipeline file says."""

    path: str
    source: Side
    dest: Side
    staging: str
    tables: list[TableSpec]
    throughput: dict[str, float] = field(default_factory=dict)
    steps: tuple[str, ...] = STEPS
    retries: dict[str, int] = field(default_factory=dict)
    """Attempts per step for transient failures (default 1: no retry of the step)."""
    timeouts: dict[str, float] = field(default_factory=dict)
    """Seconds per step (export, import, validate); a timeout counts as a transient failure."""
    workers: int = 1
    """Worker processes per table (the file's default: one per core)."""
    engine: EngineChoice = field(default_factory=EngineChoice)
    """local, or spark (``workers`` then counts the Spark tasks at once)."""
    threads: int = DEFAULT_THREADS
    """Units each worker runs at once."""
    parallel_tables: int = 2
    """Tables migrated at the same time."""
    fail_fast: bool = False
    max_rejects: int = 0
    notify_sns: str | None = None
    notify_webhook: str | None = None
    notify_steps: bool = False
    notify_lag: float = BEHIND_AFTER
    """Seconds of replay lag past which a live table sends ``fell_behind`` (``notify.lag``)."""
    log_location: str | None = None
    report_html: str | None = None
    bucket_owner: str | None = None
    settings: frozenset[str] = ALL
    """Optional table settings to copy (``settings: all|keys-only|ttl,tags,...``)."""
    strict_settings: bool = False


def load_pipeline(path: Path) -> PipelineSpec:
    """Read and check a pipeline file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"pipeline file {str(path)!r} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read pipeline file {str(path)!r}: {exc}") from exc
    try:
        # compose keeps the nodes, whose lines the messages below name; safe_load then
        # constructs every value, so a tag like !!python/name fails here, with its line.
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(str(path), text, exc)) from None
    except ValueError as exc:  # a date like 2024-13-01: PyYAML says so without a line
        node = _unreadable(root) if root is not None else None
        line = node.start_mark.line + 1 if node is not None else 0
        raise ConfigError(
            at(str(path), line, key_on_line(text, line), f"a value that cannot be read ({exc})")
        ) from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            f"{path}:1: expected a mapping of settings (key: value lines), see the README's example"
        )
    return _spec(str(path), root)


def _unreadable(node: yaml.Node) -> yaml.Node | None:
    """The first scalar below ``node`` that PyYAML cannot construct."""
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.safe_load(yaml.serialize(node))
        except ValueError:
            return node
        return None
    children = node.value if isinstance(node, yaml.SequenceNode) else []
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    return next((found for found in map(_unreadable, children) if found is not None), None)


# Fields whose values are never shown in a message: they may be secret.
_SECRET_FIELDS = ("external_id", "webhook", "secret", "token", "password", "key")


def _is_secret(field_path: str) -> bool:
    name = field_path.rpartition(".")[2].lower()
    return any(word in name for word in _SECRET_FIELDS)


def _error(
    file: str, node: yaml.Node, field_path: str, message: str, hint: str | None = None
) -> ConfigError:
    """``file:line: field: message``, the line being the node's."""
    return ConfigError(at(file, node.start_mark.line + 1, field_path, message), hint=hint)


def _got(node: yaml.Node, field_path: str) -> str:
    """What was written, as a message shows it: never a secret's value."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if _is_secret(field_path):
        return "a value not shown here (it may be secret)"
    return repr(str(node.value))


_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _mapping(
    name: str, node: yaml.Node, allowed: set[str], file: str, prefix: str = ""
) -> dict[str, yaml.Node]:
    """The keys of a mapping node; an unknown key is refused naming those allowed."""
    if not isinstance(node, yaml.MappingNode):
        raise _error(file, node, name, f"expected key: value lines, got {_got(node, name)}")
    found: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            raise _error(
                file,
                key_node,
                f"{prefix}{key}",
                f"not a key of {name}{guess}",
                hint=f"the keys of {name} are {', '.join(sorted(allowed))}",
            )
        found[key] = value_node
    return found


def _scalar(node: yaml.Node, kind: type, field_path: str, file: str) -> Any:
    expected = f"expected {_WORDS[kind]}, got {_got(node, field_path)}"
    if not isinstance(node, yaml.ScalarNode):
        raise _error(file, node, field_path, expected)
    try:
        value = yaml.safe_load(yaml.serialize(node))
    except yaml.YAMLError as exc:  # not reached after load_pipeline's safe_load; kept safe
        raise _error(file, node, field_path, f"cannot be read ({type(exc).__name__})") from None
    if kind is str and _unquoted_number(node, value):
        # ``external_id: 123456`` means the text the user wrote, not a number to refuse.
        return str(node.value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _error(file, node, field_path, expected)
    return value


def _unquoted_number(node: yaml.ScalarNode, value: Any) -> bool:
    return node.style is None and isinstance(value, int | float) and not isinstance(value, bool)


def _side(node: yaml.Node, name: str, file: str) -> Side:
    fields = _mapping(name, node, set(SIDE_FIELDS), file, prefix=f"{name}.")
    return Side(**{k: _scalar(v, str, f"{name}.{k}", file) for k, v in fields.items()})


_REQUIRED = ("source", "destination", "staging", "tables")


def _spec(file: str, root: yaml.MappingNode) -> PipelineSpec:
    top = _mapping("a pipeline file", root, _TOP, file)
    for required in _REQUIRED:
        if required not in top:
            raise _error(
                file,
                root,
                required,
                f"missing: a pipeline file needs {', '.join(_REQUIRED[:-1])} and tables",
                hint="see the README's example",
            )
    version = _scalar(top["version"], int, "version", file) if "version" in top else 1
    if version != 1:
        raise _error(file, top["version"], "version", f"{version} is not supported (only 1 is)")
    notify = _notify(top.get("notify"), file)
    engine = _engine(top, file)
    return PipelineSpec(
        path=file,
        source=_side(top["source"], "source", file),
        dest=_side(top["destination"], "destination", file),
        staging=_scalar(top["staging"], str, "staging", file),
        tables=_tables(top["tables"], file),
        throughput=_throughput(top.get("throughput"), file),
        steps=_steps(top.get("steps"), file),
        retries=_retries(top.get("retries"), file),
        timeouts=_timeouts(top.get("timeouts"), file),
        workers=engine.spark_tasks or _local_workers(top, file),
        engine=engine,
        threads=_int_in(top.get("threads"), "threads", file, 1, 64, default=DEFAULT_THREADS),
        parallel_tables=_int_in(
            top.get("parallel_tables"), "parallel_tables", file, 1, 64, default=2
        ),
        fail_fast=_scalar(top["fail_fast"], bool, "fail_fast", file)
        if "fail_fast" in top
        else False,
        max_rejects=_int_in(top.get("max_rejects"), "max_rejects", file, 0, 10**9, default=0),
        notify_sns=notify.get("sns"),
        notify_webhook=notify.get("webhook"),
        notify_steps=bool(notify.get("steps", False)),
        notify_lag=notify.get("lag", BEHIND_AFTER),
        log_location=_opt_str(top.get("log_location"), "log_location", file),
        report_html=_opt_str(top.get("report_html"), "report_html", file),
        bucket_owner=_opt_str(top.get("bucket_owner"), "bucket_owner", file),
        settings=_settings(top.get("settings"), file),
        strict_settings=_scalar(top["strict_settings"], bool, "strict_settings", file)
        if "strict_settings" in top
        else False,
    )


def _settings(node: yaml.Node | None, file: str) -> frozenset[str]:
    text = _opt_str(node, "settings", file)
    if node is None or text is None:
        return ALL
    try:
        return parse_settings(text)
    except ConfigError as exc:
        raise _error(file, node, "settings", exc.message, hint=exc.hint) from None


def _local_workers(top: dict[str, yaml.Node], file: str) -> int:
    return _int_in(top.get("workers"), "workers", file, 1, max_workers(), default=default_workers())


def _engine(top: dict[str, yaml.Node], file: str) -> EngineChoice:
    """``engine`` and ``spark_master``; with spark, ``workers`` is the tasks at once."""
    name = _opt_str(top.get("engine"), "engine", file) or "local"
    if name not in ENGINES:
        raise _error(file, top["engine"], "engine", f"{name!r} is not one of {', '.join(ENGINES)}")
    master = _opt_str(top.get("spark_master"), "spark_master", file)
    if master and name != "spark":
        raise _error(file, top["spark_master"], "spark_master", "needs engine: spark")
    tasks = None
    if name == "spark" and "workers" in top:
        tasks = _int_in(top["workers"], "workers", file, 1, 1_000_000, default=1)
    return EngineChoice(name=name, spark_master=master, spark_tasks=tasks)


def _opt_str(node: yaml.Node | None, name: str, file: str) -> str | None:
    return None if node is None else str(_scalar(node, str, name, file))


def _int_in(
    node: yaml.Node | None, name: str, file: str, low: int, high: int, *, default: int
) -> int:
    if node is None:
        return default
    value = int(_scalar(node, int, name, file))
    if not low <= value <= high:
        raise _error(file, node, name, f"expected a whole number from {low} to {high}, got {value}")
    return value


def _tables(node: yaml.Node, file: str) -> list[TableSpec]:
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise _error(
            file,
            node,
            "tables",
            "expected a list of table names or of mappings with name or glob, "
            f"got {_got(node, 'tables')}",
        )
    specs = [_table(item, i, file) for i, item in enumerate(node.value)]
    _check_unique_destinations(specs, file)
    return specs


_TABLE_KINDS: dict[str, type] = {
    "segments": int,
    "validate": bool,
    "max_rejects": int,
    "bulk_max_wru": int,
    "boost": int,
    "boost_source": int,
    "live": bool,
}


def _table(node: yaml.Node, index: int, file: str) -> TableSpec:
    line = node.start_mark.line + 1
    where = f"tables[{index}]"
    if isinstance(node, yaml.ScalarNode):
        return TableSpec(name=_scalar(node, str, where, file), line=line)
    fields = _mapping(where, node, _TABLE, file, prefix=f"{where}.")
    values: dict[str, Any] = {}
    for key, value in fields.items():
        values[key] = _scalar(value, _TABLE_KINDS.get(key, str), f"{where}.{key}", file)
    if ("name" in values) == ("glob" in values):
        raise _error(file, node, where, "give exactly one of name or glob")
    if "glob" in values and "to" in values:
        raise _error(
            file,
            fields["to"],
            f"{where}.to",
            "a glob cannot be renamed with 'to'",
            hint="list the tables one by one to rename them",
        )
    methods = (
        ("export_method", ("scan", "native")),
        ("import_method", ("batch", "native", "bulk")),
        ("bulk_tier", ("STANDARD", "ACCELERATED")),
    )
    for key, allowed in methods:
        if key in values and values[key] not in allowed:
            raise _error(
                file,
                fields[key],
                f"{where}.{key}",
                f"expected one of {', '.join(allowed)}, got {values[key]!r}",
            )
    return TableSpec(line=line, **values)


def _check_unique_destinations(specs: list[TableSpec], file: str) -> None:
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.name is None:
            continue
        target = spec.to or spec.name
        if target in seen:
            raise ConfigError(
                at(
                    file,
                    spec.line,
                    "tables",
                    f"two tables are mapped to destination {target!r} "
                    f"(the other at line {seen[target]})",
                ),
                hint="give one of them another 'to'",
            )
        seen[target] = spec.line


def _throughput(node: yaml.Node | None, file: str) -> dict[str, float]:
    if node is None:
        return {}
    fields = _mapping("throughput", node, _THROUGHPUT, file, prefix="throughput.")
    return {k: float(_scalar(v, float, f"throughput.{k}", file)) for k, v in fields.items()}


def _steps(node: yaml.Node | None, file: str) -> tuple[str, ...]:
    if node is None:
        return STEPS
    if not isinstance(node, yaml.SequenceNode):
        raise _error(file, node, "steps", f"expected a list of steps, got {_got(node, 'steps')}")
    steps = tuple(str(_scalar(n, str, "steps", file)) for n in node.value)
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise _error(
            file,
            node,
            "steps",
            f"unknown step(s) {', '.join(map(repr, unknown))}",
            hint=f"steps are {', '.join(STEPS)}",
        )
    return steps


def _retries(node: yaml.Node | None, file: str) -> dict[str, int]:
    if node is None:
        return {}
    fields = _mapping("retries", node, set(STEPS), file, prefix="retries.")
    return {k: _int_in(v, f"retries.{k}", file, 1, 100, default=1) for k, v in fields.items()}


def _timeouts(node: yaml.Node | None, file: str) -> dict[str, float]:
    if node is None:
        return {}
    allowed = {"export", "import", "validate"}
    fields = _mapping("timeouts", node, allowed, file, prefix="timeouts.")
    found = {k: float(_scalar(v, float, f"timeouts.{k}", file)) for k, v in fields.items()}
    for key, seconds in found.items():
        if seconds <= 0:
            raise _error(
                file, fields[key], f"timeouts.{key}", f"expected seconds above 0, got {seconds:g}"
            )
    return found


def _notify(node: yaml.Node | None, file: str) -> dict[str, Any]:
    if node is None:
        return {}
    fields = _mapping("notify", node, _NOTIFY, file, prefix="notify.")
    out: dict[str, Any] = {}
    kinds = {"steps": bool, "lag": float}
    for key, value in fields.items():
        out[key] = _scalar(value, kinds.get(key, str), f"notify.{key}", file)
    if "lag" in out and out["lag"] < 1:
        raise _error(
            file, fields["lag"], "notify.lag", f"expected seconds, at least 1, got {out['lag']:g}"
        )
    if "sns" in out and not str(out["sns"]).startswith("arn:aws"):
        raise _error(
            file,
            fields["sns"],
            "notify.sns",
            "not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)",
        )
    if "webhook" in out and not str(out["webhook"]).startswith(("http://", "https://")):
        # A webhook URL may carry credentials or a token: the message never shows it.
        raise _error(
            file,
            fields["webhook"],
            "notify.webhook",
            "not an http:// or https:// URL (the value is not shown: it may hold a secret)",
        )
    return out
