"""PyYAML's parse errors in plain words, as ``file:line: field: message``.

PyYAML speaks of its parser (``expected <block end>, but found '<block mapping start>'``)
and quotes the offending line, which may hold a secret. A user wants to know which line is
wrong and what to change there, so each problem PyYAML reports is said again in words; the
field is the key written on that line (never its value).
"""

from __future__ import annotations

import re

import yaml

_INDENT = (
    "this line is indented differently from the lines above it: the keys of one mapping "
    "(and the items of one list) must start in the same column"
)
# PyYAML's problem text (a fragment of it) -> what the user should hear.
_PLAIN = (
    ("expected <block end>", _INDENT),
    ("did not find expected key", _INDENT),
    ("did not find expected '-' indicator", _INDENT),
    (
        "mapping values are not allowed here",
        "a 'key:' where a value goes on: this line is indented further than the keys "
        "above it (or a value holds ': ' and needs quotes)",
    ),
    ("cannot start any token", "a tab character: indent with spaces only"),
    ("could not find expected ':'", "a line without 'key: value' inside a mapping"),
    ("found unexpected end of stream", "the file ends inside a quoted value: close the quote"),
    ("expected ',' or ']'", "a '[' list that is not closed with ']' before the next key"),
    ("expected ',' or '}'", "a '{' mapping that is not closed with '}' before the next key"),
    (
        "could not determine a constructor for the tag",
        "a YAML tag (!!...) that a pipeline file does not accept: write a plain value",
    ),
    ("found undefined tag handle", "a YAML tag (!...) that a pipeline file does not accept"),
    ("found duplicate anchor", "the same &anchor is defined twice"),
    ("found undefined alias", "an *alias without an &anchor above it"),
)
_KEY = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w.-]*)\s*:")


def yaml_error(file: str, text: str, exc: yaml.YAMLError) -> str:
    """One line naming the file, the line, the key written there, and the problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return f"{file}: YAML cannot read the file ({plain_problem(exc)})"
    return at(file, mark.line + 1, key_on_line(text, mark.line + 1), plain_problem(exc))


def plain_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found, in words; a problem not known here keeps PyYAML's words."""
    words = " ".join(
        str(w) for w in (getattr(exc, "context", None), getattr(exc, "problem", None)) if w
    )
    for fragment, plain in _PLAIN:
        if fragment in words:
            return plain
    return f"YAML cannot read this line ({' '.join(words.split()) or type(exc).__name__})"


def key_on_line(text: str, line: int) -> str | None:
    """The key written on ``line`` (1-based), if the line is ``key: ...``."""
    lines = text.splitlines()
    found = _KEY.match(lines[line - 1]) if 0 < line <= len(lines) else None
    return found.group(1) if found else None


def at(file: str, line: int, field: str | None, message: str) -> str:
    """``file:line: field: message`` (the field left out when no key is known)."""
    return f"{file}:{line}: {field}: {message}" if field else f"{file}:{line}: {message}"
