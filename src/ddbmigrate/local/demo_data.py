"""Items for the demo and the tests: every DynamoDB type, the awkward cases included.

All ten types (S N B SS NS BS M L NULL BOOL); binary and binary sets nested in maps and lists;
38-digit numbers and extreme exponents; empty strings, empty binary, empty lists and maps in
non-key attributes; non-ASCII text. Deterministic for a given count.
"""

from __future__ import annotations

import base64
import random
from typing import Any

from ddbmigrate.model import Item

CITIES = ["Seattle", "Zürich", "São Paulo", "東京", "Lagos", "Reykjavík", "Austin", "Oslo"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def customer_item(i: int, rng: random.Random) -> Item:
    """Customer number ``i``: key ``name`` (S) + ``city`` (S), and one of everything."""
    blob = rng.randbytes(rng.randint(1, 64))
    item: dict[str, Any] = {
        "name": {"S": f"customer-{i:06d}"},
        "city": {"S": CITIES[i % len(CITIES)]},
        "visits": {"N": str(rng.randint(0, 10_000))},
        "balance": {"N": f"{rng.randint(-(10**37), 10**37)}.{rng.randint(0, 9)}"},
        "precise": {"N": "1234567890123456789012345678901234567.8"},
        "tiny": {"N": "1E-130"},
        "huge": {"N": "9.9999999999999999999999999999999999999E+125"},
        "avatar": {"B": _b64(blob)},
        "empty_blob": {"B": ""},
        "tags": {"SS": sorted({f"tag-{rng.randint(0, 20)}" for _ in range(3)})},
        "scores": {"NS": sorted({str(rng.randint(-50, 50)) for _ in range(3)} | {"0.5"})},
        "keys": {"BS": [_b64(bytes([n, n + 1])) for n in range(0, 6, 2)]},
        "active": {"BOOL": i % 2 == 0},
        "deleted_at": {"NULL": True},
        "note": {"S": ""},
        "nothing": {"L": []},
        "settings": {"M": {}},
        "prefs": {
            "M": {
                "theme": {"S": "dark"},
                "icon": {"B": _b64(blob[:8])},
                "keys": {"BS": [_b64(b"\x00\xff"), _b64(b"\xfe")]},
                "deep": {"M": {"list": {"L": [{"B": _b64(b"\x01")}, {"N": "-0.001"}]}}},
            }
        },
        "history": {
            "L": [
                {"N": str(i)},
                {"NULL": True},
                {"BOOL": False},
                {"B": _b64(blob[-4:])},
                {"BS": [_b64(b"a"), _b64(b"b")]},
                {"M": {"when": {"S": "2026-01-01"}}},
                {"L": []},
            ]
        },
    }
    return item


def customer_items(count: int, *, seed: int = 7) -> list[Item]:
    """``count`` customers, the same for the same seed."""
    rng = random.Random(seed)
    return [customer_item(i, rng) for i in range(count)]
