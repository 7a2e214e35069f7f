"""One table of codecs: format name -> how to split, decode and encode its lines."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

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


def stream_lines(chunks: Iterable[bytes], fmt: Format) -> Iterator[tuple[int, bytes]]:
    """:func:`data_lines` over a file that arrives in chunks (lines may span two)."""
    return numbered_lines(_split_chunks(chunks), fmt)


def _split_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
    yield pending


def numbered_lines(lines: Iterable[bytes], fmt: Format) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for every line of ``lines`` that holds a record."""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip(b"\r") if fmt == "datapipeline-hive" else line.strip()
        if not stripped.strip() or (fmt == "native-ion" and stripped == ION_MARKER):
            continue
        yield number, stripped
