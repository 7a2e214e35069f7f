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
    does not take is absent (``None`` from :meth:`get`)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def uses(*sets: OptionSet) -> Callable[[F], F]:
    """Give a command the options of ``sets``; it receives their values as ``given``."""
    added = [opt for option_set in sets for opt in option_set.options]

    def decorate(func: F) -> F:
        params, hints = _own_parameters(func)
        params += [
            inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
            for o in added
        ]
        hints.update({o.name: o.annotation for o in added})

        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = Given({o.name: kwargs.pop(o.name) for o in added})
            return func(*args, given=given, **kwargs)

        # typer reads both: the signature for names and defaults, the hints for the types.
        command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [p.replace(annotation=hints[p.name]) for p in params]
        )
        command.__annotations__ = {p.name: hints[p.name] for p in params}
        return command  # type: ignore[return-value]

    return decorate


def _own_parameters(func: Callable[..., Any]) -> tuple[list[inspect.Parameter], dict[str, Any]]:
    """A command's parameters but ``given``, and the types of all of them, resolved."""
    hints = get_type_hints(func, include_extras=True)
    params = [p for p in inspect.signature(func).parameters.values() if p.name != "given"]
    return params, hints
