"""Run a pipeline file on Spark: ``spark-submit .../ddbmigrate/spark_job.py PIPELINE``.

The entry point for spark-submit, an EMR step, EMR Serverless and a Glue job script. It is
``ddbmigrate run PIPELINE --engine spark --progress raw``, on the SparkSession of the
submitted application: spark-submit's master and settings (or the Glue job's) decide where
the tasks run. ``python -m ddbmigrate.spark_job PIPELINE`` works too (a ``local[*]`` master
unless the file names ``spark_master``).

PIPELINE is a local path or an ``s3://`` URL (read with the default AWS credentials: the
cluster's role). Arguments this module does not know are ignored, so a Glue job may pass its
own (``--JOB_NAME``, ``--TempDir`` ...) beside ``--pipeline s3://...``. The exit code is the
CLI's: 0 when every table finished (and matched).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ddbmigrate.cli.app import main as cli_main
from ddbmigrate.cli.exit_codes import ExitCode, exit_code_for
from ddbmigrate.cli.output import print_error
from ddbmigrate.errors import DdbMigrateError


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ddbmigrate.spark_job", description="Run a ddbmigrate pipeline file on Spark."
    )
    parser.add_argument("pipeline_file", nargs="?", help="local path or s3:// URL")
    parser.add_argument("--pipeline", dest="pipeline_option", help="the same, as an option")
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    found, _unknown = parser.parse_known_args(argv)  # Glue adds its own arguments
    return found


def local_copy(location: str, folder: Path) -> Path:
    """The pipeline file on this machine: itself, or a copy of the S3 object."""
    if not location.startswith("s3://"):
        return Path(location)
    from ddbmigrate import api  # noqa: PLC0415 - AWS is loaded only for an s3:// file

    text = api.read_object(location)
    path = folder / (location.rstrip("/").rsplit("/", 1)[-1] or "pipeline.yaml")
    path.write_bytes(text)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    location = args.pipeline_option or args.pipeline_file
    if not location:
        print_error("give the pipeline file: spark_job.py PIPELINE (a path or s3:// URL)", None)
        return int(ExitCode.USAGE)
    with tempfile.TemporaryDirectory(prefix="ddbmigrate-") as folder:
        try:
            path = local_copy(location, Path(folder))
        except DdbMigrateError as exc:
            print_error(exc.message, exc.hint)
            return int(exit_code_for(exc))
        command = ["run", str(path), "--engine", "spark", "--progress", "raw"]
        return cli_main([*command, "--json"] if args.json else command)


if __name__ == "__main__":
    sys.exit(main())
