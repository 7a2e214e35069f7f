"""Help that reads the same at any width: what typer's rich output would otherwise mangle.

rich takes ``[lowercase words]`` for markup and drops them, so every help text is escaped;
paragraphs are unwrapped so rich, not the source file, decides where lines break; flags show
no ``<bool>``; arguments show their name in capitals; every shared option sits in a panel.
"""

from __future__ import annotations

import functools
import inspect
from copy import copy
from typing import Annotated, Any, get_args, get_origin

from rich.markup import escape
from typer import _click as click
from typer.core import TyperCommand, TyperGroup
from typer.models import ArgumentInfo, OptionInfo, ParameterInfo

PANELS = {
    "staging": "Staging",
    "bucket_owner": "Staging",
    "acl": "Staging",
    "sse": "Staging",
    "sse_kms_key_id": "Staging",
    "read_percent": "Throughput",
    "write_percent": "Throughput",
    "max_rcu": "Throughput",
    "max_wcu": "Throughput",
    "engine": "Engine",
    "spark_master": "Engine",
    "workers": "Engine",
    "threads": "Engine",
    "segments": "Engine",
    "as_json": "Output",
    "progress": "Output",
    "debug": "Output",
    "log_format": "Output",
    "log_location": "Output",
    "report_html": "Output",
    "notify_sns": "Output",
    "notify_webhook": "Output",
    "notify_steps": "Output",
    "notify_lag": "Output",
}
"""The panel of an option, by parameter name; ``source_*``/``dest_*`` go to Source and
Destination; the rest stay in typer's Options panel."""


def text(raw: str) -> str:
    """One paragraph: its line breaks are the source file's, not the reader's."""
    return escape(" ".join(raw.split()))


def polished_doc(doc: str) -> str:
    """A command's help: each paragraph unwrapped and escaped."""
    return "\n\n".join(text(p) for p in inspect.cleandoc(doc).split("\n\n"))


def panel_of(name: str) -> str | None:
    for prefix, panel in (("source_", "Source"), ("dest_", "Destination")):
        if name.startswith(prefix):
            return panel
    return PANELS.get(name)


def polished(name: str, annotation: Any) -> Any:
    """``annotation`` with a copy of its typer option or argument, polished for help."""
    if get_origin(annotation) is not Annotated:
        return annotation
    base, *extras = get_args(annotation)
    infos = [_info(name, base, e) if isinstance(e, ParameterInfo) else e for e in extras]
    return Annotated[(base, *infos)]


def _info(name: str, base: Any, info: ParameterInfo) -> ParameterInfo:
    info = copy(info)
    if info.help:
        info.help = text(info.help)
    if isinstance(info, ArgumentInfo) and info.metavar is None:
        info.metavar = name.upper()  # usage says RUN_ID, not {run_id}
    if isinstance(info, OptionInfo):
        _range_in_words(info)
        if base is bool and info.metavar is None:
            info.metavar = ""  # a flag takes no value: no <bool> inviting `--json true`
        info.rich_help_panel = panel_of(name) or info.rich_help_panel
    return info


def _range_in_words(info: OptionInfo) -> None:
    """A range said in the help, not in the type column, where it took a third of an
    80-column table (:class:`Command` drops it there; click still checks it)."""
    low, high = info.min, info.max
    if low is None and high is None:
        return
    bound = f"at least {low:,}" if high is None else f"{low:,} to {high:,}"
    info.help = f"{(info.help or '').rstrip('.')} ({bound})."
    info.metavar = info.metavar or "<int>"


PANEL_ORDER = (None, "Source", "Destination", "Staging", "Throughput", "Engine", "Output")


def panel_rank(name: str) -> int:
    """Where an option's panel comes in ``--help`` (typer shows panels as they first occur)."""
    return PANEL_ORDER.index(panel_of(name))


class _Polished:
    """What typer decides per parameter object: ``-h/--help`` is a flag, so no ``<bool>``
    after it either; no range in the type column; a required argument in the usage line
    as ``SOURCE`` (click's way), not ``{SOURCE}``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:  # type: ignore[attr-defined]
            if getattr(param, "min", None) is not None or getattr(param, "max", None) is not None:
                param._get_number_range_help_str = lambda: None
            if param.param_type_name == "argument" and param.required:
                param.get_usage_pieces = functools.partial(_usage, param.display_name_raw)

    def get_help_option(self, ctx: click.Context) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = ""
        return option


def _usage(name: str, ctx: click.Context) -> list[str]:
    del ctx
    return [name]


class Command(_Polished, TyperCommand):
    """A command whose help is polished."""


class Group(_Polished, TyperGroup):
    """A group whose help is polished."""
