"""Which engine runs a command's units of work: chosen by name, never by what is installed."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ddbmigrate.errors import ConfigError

ENGINES = ("local", "spark")
# One line: what is missing and the command that installs it.
PYSPARK_MISSING = (
    "--engine spark needs pyspark, which is not installed: pip install 'ddbmigrate[spark]'"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class EngineChoice:
    """The engine of a command (``--engine``, ``--spark-master``)."""

    name: str = "local"
    """local (worker processes of this machine) or spark (Spark tasks; ddbmigrate[spark])."""
    spark_master: str | None = None
    """Master of a new SparkSession (``local[N]``, ``spark://HOST:PORT``, ``yarn`` ...);
    None uses the session running in this process (spark-submit, EMR, Glue), else
    ``local[*]``."""
    spark_tasks: int | None = None
    """Shares of every capacity budget, one per task (``--workers`` with the spark engine);
    never fewer than the tasks the cluster can run at once, which None leaves it at."""

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(f"--engine {self.name!r} is not one of {', '.join(ENGINES)}")
        if self.name != "spark" and self.spark_master:
            raise ConfigError("--spark-master needs --engine spark")
        if self.spark_tasks is not None and self.spark_tasks < 1:
            raise ConfigError(f"--workers {self.spark_tasks} must be at least 1")
        # Found, not imported: a JVM starts only when the engine is opened.
        if self.spark and importlib.util.find_spec("pyspark") is None:
            raise ConfigError(PYSPARK_MISSING)

    @property
    def spark(self) -> bool:
        return self.name == "spark"
