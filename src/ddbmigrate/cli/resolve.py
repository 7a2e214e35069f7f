"""The one place that decides every shared setting: flags > environment > config file >
the defaults of the option dataclasses.

Sides read ``DDBMIGRATE_SOURCE_<FIELD>`` / ``DDBMIGRATE_DEST_<FIELD>`` and the
``[source]`` / ``[destination]`` tables; throughput and the engine read ``DDBMIGRATE_<NAME>``
and the ``[throughput]`` / ``[engine]`` tables (see :data:`LAYERED`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ddbmigrate import api
from ddbmigrate.aws.session import check_profiles
from ddbmigrate.capacity import ThroughputOptions
from ddbmigrate.config import SIDE_FIELDS, Side, load_config_file, resolve_side
from ddbmigrate.engines.choice import EngineChoice
from ddbmigrate.engines.local import DEFAULT_THREADS, default_workers
from ddbmigrate.errors import ConfigError
from ddbmigrate.pipelinefile import PipelineSpec


@dataclass(frozen=True, slots=True)
class Layered:
    """A setting with an environment variable and a config-file key besides its flag."""

    env: str
    section: str
    key: str
    parse: Callable[[str], Any]

    @property
    def file_key(self) -> str:
        return f"[{self.section}] {self.key}"


LAYERED: dict[str, Layered] = {
    "read_percent": Layered("DDBMIGRATE_READ_PERCENT", "throughput", "read_percent", float),
    "write_percent": Layered("DDBMIGRATE_WRITE_PERCENT", "throughput", "write_percent", float),
    "max_rcu": Layered("DDBMIGRATE_MAX_RCU", "throughput", "max_rcu", float),
    "max_wcu": Layered("DDBMIGRATE_MAX_WCU", "throughput", "max_wcu", float),
    "engine": Layered("DDBMIGRATE_ENGINE", "engine", "name", str),
    "spark_master": Layered("DDBMIGRATE_SPARK_MASTER", "engine", "spark_master", str),
    "workers": Layered("DDBMIGRATE_WORKERS", "engine", "workers", int),
    "threads": Layered("DDBMIGRATE_THREADS", "engine", "threads", int),
    "data_plane": Layered(api.DATA_PLANE_ENV, "engine", "data_plane", str),
}
"""By parameter name."""
CONFIG_TABLES = ("source", "destination", "throughput", "engine")
"""The tables of a ``--config`` file; nothing else may be in it."""
FLAGLESS = frozenset({"data_plane"})
"""Settings no command has a flag for: from the environment or the file only."""
THROUGHPUT_FIELDS = tuple(f.name for f in fields(ThroughputOptions))


@dataclass(frozen=True, kw_only=True, slots=True)
class Resolved:
    """A command's settings once every source has been consulted."""

    source: Side
    dest: Side
    throughput: ThroughputOptions
    engine: EngineChoice
    workers: int | None
    """``--workers``; None lets each step choose (one per core)."""
    threads: int
    data_plane: str

    @property
    def workers_or_default(self) -> int:
        return default_workers() if self.workers is None else self.workers


def resolve(given: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Resolved:
    """Settle the shared options ``given`` to a command (absent ones are not its options)."""
    env = os.environ if env is None else env
    file = _config(given.get("config"))
    value = _Layers(given, env, file).value
    workers, threads = value("workers"), value("threads")
    engine_name = value("engine") or EngineChoice().name  # "" is no name: the default
    source, dest = _side("source", given, env, file), _side("destination", given, env, file)
    # Only the sides the command takes: a bad profile in the environment for the other one
    # must not stop it.
    check_profiles(
        {
            "--source-profile": source.profile if "source_profile" in given else None,
            "--dest-profile": dest.profile if "dest_profile" in given else None,
        }
    )
    return Resolved(
        source=source,
        dest=dest,
        throughput=ThroughputOptions(**_present(value, THROUGHPUT_FIELDS)),
        engine=EngineChoice(
            name=engine_name,
            spark_master=value("spark_master"),
            spark_tasks=workers if engine_name == "spark" else None,
        ),
        workers=workers,
        threads=DEFAULT_THREADS if threads is None else threads,
        data_plane=_data_plane(value("data_plane")),
    )


def check_file_profiles(spec: PipelineSpec) -> None:
    """Every profile a pipeline file names that is not configured, in one error."""
    check_profiles(
        {"source.profile": spec.source.profile, "destination.profile": spec.dest.profile}
    )


class _Layers:
    """One setting's value: the flag, else the environment, else the config file."""

    def __init__(self, given: Mapping[str, Any], env: Mapping[str, str], file: Mapping[str, Any]):
        self._given, self._env, self._file = given, env, file
        # A typer default is the dataclass's: a value from env or file still comes first.
        self._defaulted: frozenset[str] = getattr(given, "defaulted", frozenset())

    def value(self, name: str) -> Any:
        layered = LAYERED[name]
        if name not in self._given and name not in FLAGLESS:
            return None  # not an option of this command: its default, whatever env and file say
        if self._given.get(name) is not None and name not in self._defaulted:
            return self._given[name]
        raw = self._env.get(layered.env) or self._file.get(layered.section, {}).get(layered.key)
        if raw is None or raw == "":
            return None
        try:
            return layered.parse(str(raw))
        except ValueError:
            where = layered.env if layered.env in self._env else layered.file_key
            raise ConfigError(f"{where}={raw!r} is not {_kind(layered.parse)}") from None


def _present(value: Callable[[str], Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The settings that have a value; the others keep their dataclass defaults."""
    found = {name: value(name) for name in names}
    return {name: v for name, v in found.items() if v is not None}


def _kind(parse: Callable[[str], Any]) -> str:
    return "a whole number" if parse is int else "a number"


def _side(role: str, given: Mapping[str, Any], env: Mapping[str, str], file: Any) -> Side:
    prefix = "source_" if role == "source" else "dest_"
    flags = {name: given.get(prefix + name) for name in SIDE_FIELDS}
    return resolve_side(role, flags=flags, env=env, file=file)


def _config(path: Any) -> dict[str, Any]:
    """The config file's tables, each known key checked (a typo is an error, not ignored)."""
    if not path:
        return {}
    data = load_config_file(path)
    unknown_tables = set(data) - set(CONFIG_TABLES)
    if unknown_tables:  # a misspelt [throughput] would otherwise be skipped without a word
        raise ConfigError(
            f"config file {str(path)!r}: unknown table(s) {sorted(unknown_tables)}",
            hint=f"the tables are {', '.join(f'[{t}]' for t in CONFIG_TABLES)}; "
            "every key goes in one of them",
        )
    for section in ("throughput", "engine"):
        known = {v.key for v in LAYERED.values() if v.section == section}
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"config file {str(path)!r}: {section} must be a [{section}] table")
        unknown = set(data.get(section, {})) - known
        if unknown:
            raise ConfigError(
                f"config file {str(path)!r}: unknown key(s) {sorted(unknown)} in [{section}]",
                hint=f"allowed keys: {', '.join(sorted(known))}",
            )
    return data


def _data_plane(chosen: str | None) -> str:
    """Checked now, before any AWS call. The choice is put in this process's environment,
    where the api and the worker processes read it."""
    if chosen is not None:
        os.environ[api.DATA_PLANE_ENV] = chosen
    return api.data_plane()
