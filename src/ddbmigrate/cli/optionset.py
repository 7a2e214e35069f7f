"""Options written once and shared by the commands that take them.

typer reads a command's options from its signature. :func:`uses` adds the options of one or
more :class:`OptionSet` to a command's signature and hands the command their values as one
:class:`Given`, so the twelve side options, the throughput options and the engine options are
each declared in one place instead of in every command that takes them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, get_type_hints

import typer

from ddbmigrate.cli.helptext import panel_rank, polished, polished_doc

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Opt:
    """One option: its parameter name, its ``Annotated`` type and its default."""

    name: str
    annotation: Any
    default: Any = None


@dataclass(frozen=True, slots=True)
class OptionSet:
    """Options that travel together (a side, throughput, the engine...)."""

    options: tuple[Opt, ...]

    def __add__(self, other: OptionSet) -> OptionSet:
        return OptionSet(self.options + other.options)


class Given(Mapping[str, Any]):
    """The values of a command's shared options, by parameter name; an option the command
    does not take is absent (``None`` from :meth:`get`). ``defaulted``: the options not
    given on the command line, which the environment or the config file may still set."""

    def __init__(self, values: Mapping[str, Any], defaulted: frozenset[str] = frozenset()):
        self._values = dict(values)
        self.defaulted = defaulted

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


CONTEXT = "_typer_context"
"""A parameter typer fills with the click context, to learn which options were given."""


def uses(*sets: OptionSet) -> Callable[[F], F]:
    """Give a command the options of ``sets``; it receives their values as ``given``.

    Its help (docstring and every option's) is polished for the terminal on the way."""
    added = [opt for option_set in sets for opt in option_set.options]

    def decorate(func: F) -> F:
        params, hints = _own_parameters(func)
        params += [
            inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
            for o in added
        ]
        params = [*_by_panel(params), inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY)]
        hints.update({o.name: o.annotation for o in added}, **{CONTEXT: typer.Context})

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            context: typer.Context = kwargs.pop(CONTEXT)
            values = {o.name: kwargs.pop(o.name) for o in added}
            return func(*args, given=Given(values, _defaulted(context, values)), **kwargs)

        # typer reads both: the signature for names and defaults, the hints for the types.
        shown = {p.name: polished(p.name, hints[p.name]) for p in params}
        command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [p.replace(annotation=shown[p.name]) for p in params]
        )
        command.__annotations__ = shown
        command.__doc__ = polished_doc(func.__doc__ or "")
        return command  # type: ignore[return-value]

    return decorate


def _defaulted(context: typer.Context, values: Mapping[str, Any]) -> frozenset[str]:
    """The options whose value is typer's default: not on the command line."""
    sources = {name: context.get_parameter_source(name) for name in values}
    return frozenset(
        name for name, source in sources.items() if source and source.name == "DEFAULT"
    )


def _by_panel(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    """Arguments first, then the options panel by panel (a stable sort keeps their order)."""
    keyword = [p for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    others = [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    return others + sorted(keyword, key=lambda p: panel_rank(p.name))


def _own_parameters(func: Callable[..., Any]) -> tuple[list[inspect.Parameter], dict[str, Any]]:
    """A command's parameters but ``given``, and the types of all of them, resolved."""
    hints = get_type_hints(func, include_extras=True)
    params = [p for p in inspect.signature(func).parameters.values() if p.name != "given"]
    return params, hints
