"""Bucketed, order-independent digests of a table's items (DESIGN.md "Validation").

Each item's key picks one of ``buckets`` buckets; a bucket keeps the number of items and the
sum, modulo 2**128, of their ``item_hash``. Addition commutes, so digests built by parallel
scans in any order, in any process, merge into the same value; two tables are equal (up to
a 128-bit hash collision) when all buckets are, and a differing bucket narrows the search
for the differing keys to about ``1/buckets`` of the table.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ddbmigrate.errors import CorruptDataError
from ddbmigrate.items import item_hash, key_bytes, key_of
from ddbmigrate.model import Item, KeySchema

_MASK = (1 << 128) - 1
# Domain separation: a key's bucket must not be correlated with its item hash.
_BUCKET_PERSON = b"ddbm-bucket"


def bucket_of_bytes(key: bytes, buckets: int) -> int:
    """The bucket of a key given its ``items.key_bytes``; stable across processes and runs."""
    digest = hashlib.blake2b(key, digest_size=8, person=_BUCKET_PERSON).digest()
    return int.from_bytes(digest, "big") % buckets


class BucketDigest:
    """Per-bucket item counts and 128-bit hash sums; mergeable and JSON-serialisable."""

    def __init__(self, buckets: int) -> None:
        if buckets < 1:
            raise ValueError(f"a digest needs at least one bucket, not {buckets}")
        self.buckets = buckets
        self._counts = [0] * buckets
        self._sums = [0] * buckets

    def add(self, item: Item, key: KeySchema) -> None:
        """Count ``item`` in the bucket of its key."""
        bucket = bucket_of_bytes(key_bytes(key_of(item, key)), self.buckets)
        self._counts[bucket] += 1
        self._sums[bucket] = (self._sums[bucket] + item_hash(item)) & _MASK

    def bucket_of(self, key_item: Item) -> int:
        """The bucket a key (as ``items.key_of`` returns it) falls in."""
        return bucket_of_bytes(key_bytes(key_item), self.buckets)

    def merge(self, other: BucketDigest) -> None:
        """Add ``other``'s items into this digest (both must have the same bucket count)."""
        self._check_compatible(other)
        for bucket in range(self.buckets):
            self._counts[bucket] += other._counts[bucket]
            self._sums[bucket] = (self._sums[bucket] + other._sums[bucket]) & _MASK

    @property
    def total_count(self) -> int:
        """Items added, over all buckets."""
        return sum(self._counts)

    def count_of(self, bucket: int) -> int:
        """Items added to one bucket."""
        return self._counts[bucket]

    def differing_buckets(self, other: BucketDigest) -> list[int]:
        """Buckets whose count or hash sum differ from ``other``'s, ascending."""
        self._check_compatible(other)
        return [
            b
            for b in range(self.buckets)
            if self._counts[b] != other._counts[b] or self._sums[b] != other._sums[b]
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form; sums are hex strings (JSON numbers cannot hold 128 bits safely)."""
        return {
            "buckets": self.buckets,
            "counts": list(self._counts),
            "sums": [format(s, "x") for s in self._sums],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BucketDigest:
        """Rebuild from ``to_dict()``; CorruptDataError when the data is malformed."""
        try:
            digest = cls(int(data["buckets"]))
            counts = [int(c) for c in data["counts"]]
            sums = [int(s, 16) for s in data["sums"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDataError(f"digest data is malformed ({exc})") from exc
        if len(counts) != digest.buckets or len(sums) != digest.buckets:
            raise CorruptDataError(f"digest data does not have {digest.buckets} buckets")
        digest._counts, digest._sums = counts, [s & _MASK for s in sums]
        return digest

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BucketDigest):
            return NotImplemented
        return (self.buckets, self._counts, self._sums) == (
            other.buckets,
            other._counts,
            other._sums,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: not hashable

    def __repr__(self) -> str:
        return f"BucketDigest(buckets={self.buckets}, total_count={self.total_count})"

    def _check_compatible(self, other: BucketDigest) -> None:
        if other.buckets != self.buckets:
            raise ValueError(
                f"cannot combine digests of {self.buckets} and {other.buckets} buckets"
            )
