"""One table of codecs: format name -> how to split, decode and encode its lines."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.formats import datapipeline, incremental, ion, native
from ddbmigrate.formats.detect import Format
from ddbmigrate.model import Item

LineDecoder = Callable[[bytes], Item]
LineEncoder = Callable[[Item], bytes]

md5_b64 = native.md5_b64

_DECODERS: dict[str, LineDecoder] = {
    "native-json": native.decode_item_line,
    "native-ion": ion.decode_item_line,
    "datapipeline": datapipeline.decode_line,
    "datapipeline-hive": datapipeline.decode_hive_line,
}
_ENCODERS: dict[str, LineEncoder] = {
    "native-json": native.encode_item_line,
    "native-ion": ion.encode_item_line,
    "datapipeline": datapipeline.encode_item_line,
    "datapipeline-hive": datapipeline.encode_hive_line,
}
# Suffix of a data file before compression.
SUFFIXES: dict[str, str] = {
    "native-json": ".json",
    "native-ion": ".ion",
    "datapipeline": "",
    "datapipeline-hive": "",
}
ION_MARKER = b"$ion_1_0"


def line_decoder(fmt: Format) -> LineDecoder:
    return _DECODERS[fmt]


def line_encoder(fmt: Format) -> LineEncoder:
    return _ENCODERS[fmt]


def change_decoder(fmt: Format) -> Callable[[bytes], incremental.Change]:
    """Incremental exports exist in the two native formats only."""
    if fmt == "native-ion":
        return lambda line: incremental.parse_record(ion.decode_record(line))
    return incremental.decode_json_line


def data_lines(text: bytes, fmt: Format) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every line that holds a record."""
    return numbered_lines(text.split(b"\n"), fmt)


MAX_LINE_BYTES = 4 * 1024 * 1024
"""The longest line a data file may hold: ten times DynamoDB's 400 KB item limit, so no
real item is near it, while a hostile file cannot make a worker hold a gigabyte line."""


def stream_lines(
    chunks: Iterable[bytes], fmt: Format, *, max_line: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """:func:`data_lines` over a file that arrives in chunks (lines may span many).
    CorruptDataError when a line is longer than ``max_line`` bytes."""
    return numbered_lines(split_lines(chunks, max_line=max_line), fmt)


def split_lines(chunks: Iterable[bytes], *, max_line: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The lines of a stream of chunks, without their newlines, in time linear in its size.

    Only each new chunk is searched for newlines; the pieces of a line that spans chunks are
    kept in a list and joined once (re-joining ``pending + chunk`` per chunk made one long
    line quadratic). CorruptDataError, naming the line, as soon as a line passes ``max_line``.
    """
    head: list[bytes] = []  # the pieces of the line not finished yet
    held = 0
    number = 1  # of the line ``head`` belongs to
    for chunk in chunks:
        parts = chunk.split(b"\n")
        last = parts.pop()
        if parts:
            if head:
                head.append(parts[0])
                parts[0] = b"".join(head)
                head, held = [], 0
            if max(map(len, parts)) > max_line:
                too_long = next(i for i, line in enumerate(parts) if len(line) > max_line)
                raise _line_too_long(number + too_long, max_line)
            yield from parts
            number += len(parts)
        held += len(last)
        if held > max_line:
            raise _line_too_long(number, max_line)
        if last:
            head.append(last)
    yield b"".join(head)


def _line_too_long(number: int, max_line: int) -> CorruptDataError:
    return CorruptDataError(
        f"line {number} is longer than {max_line} bytes (DynamoDB items are at most 400 KB); "
        "the file is not a data file of a table, nothing of it is written"
    )


def numbered_lines(lines: Iterable[bytes], fmt: Format) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every line of ``lines`` that holds a record."""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip(b"\r") if fmt == "datapipeline-hive" else line.strip()
        if not stripped.strip() or (fmt == "native-ion" and stripped == ION_MARKER):
            continue
        yield number, stripped
