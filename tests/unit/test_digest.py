"""digest.py: bucketed, order-independent digests."""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from wire_strategies import keyed_items, respell

from ddbmigrate.digest import BucketDigest, bucket_of_bytes
from ddbmigrate.errors import CorruptDataError
from ddbmigrate.items import key_bytes, key_of
from ddbmigrate.model import Item, KeyAttribute, KeySchema

KEY = KeySchema(KeyAttribute("name", "S"), KeyAttribute("city", "S"))
NUMERIC_KEY = KeySchema(KeyAttribute("id", "N"))


def _unique_by_key(batch: list[Item], key: KeySchema) -> list[Item]:
    return list({key_bytes(key_of(item, key)): item for item in batch}.values())


table_batches = st.lists(keyed_items(KEY), max_size=25).map(lambda b: _unique_by_key(b, KEY))


def _digest(batch: list[Item], buckets: int = 16, key: KeySchema = KEY) -> BucketDigest:
    digest = BucketDigest(buckets)
    for item in batch:
        digest.add(item, key)
    return digest


@settings(max_examples=50)
@given(batch=table_batches, seed=st.integers())
def test_digest_is_independent_of_insertion_order(batch: list[Item], seed: int) -> None:
    shuffled = list(batch)
    random.Random(seed).shuffle(shuffled)
    assert _digest(shuffled) == _digest(batch)
    assert _digest(batch).total_count == len(batch)


@settings(max_examples=50)
@given(batch=table_batches, seed=st.integers())
def test_digest_is_independent_of_spelling(batch: list[Item], seed: int) -> None:
    rng = random.Random(seed)
    # Key attributes keep upper-case type keys: key_of only reads DynamoDB's own spelling.
    respelled = [{**respell(item, rng), **key_of(item, KEY)} for item in batch]
    assert _digest(respelled).differing_buckets(_digest(batch)) == []


@settings(max_examples=50)
@given(batch=table_batches.filter(bool), data=st.data())
def test_a_changed_attribute_changes_its_bucket(batch: list[Item], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(batch) - 1))
    assume("extra-attribute" not in batch[index])
    changed = list(batch)
    changed[index] = {**batch[index], "extra-attribute": {"S": "changed"}}
    original, modified = _digest(batch), _digest(changed)
    bucket = original.bucket_of(key_of(batch[index], KEY))
    assert original.differing_buckets(modified) == [bucket]


@settings(max_examples=30)
@given(batch=table_batches, cut=st.integers(0, 25))
def test_merged_parts_equal_the_whole(batch: list[Item], cut: int) -> None:
    merged = _digest(batch[:cut])
    merged.merge(_digest(batch[cut:]))
    assert merged == _digest(batch)


def test_missing_item_is_found_in_its_bucket() -> None:
    batch = [{"id": {"N": str(i)}, "v": {"S": "x"}} for i in range(100)]
    full = _digest(batch, key=NUMERIC_KEY)
    partial = _digest(batch[:42] + batch[43:], key=NUMERIC_KEY)
    assert full.differing_buckets(partial) == [full.bucket_of({"id": {"N": "42"}})]
    assert full.total_count - partial.total_count == 1


def test_bucket_is_stable_and_ignores_number_spelling() -> None:
    digest = BucketDigest(1000)
    assert digest.bucket_of({"id": {"N": "100"}}) == digest.bucket_of({"id": {"N": "1E+2"}})
    # Pinned: buckets must agree across processes and versions that share a run's state.
    assert bucket_of_bytes(b'{"id":{"N":"1"}}', 1000) == bucket_of_bytes(b'{"id":{"N":"1"}}', 1000)
    assert 0 <= digest.bucket_of({"id": {"N": "7"}}) < 1000


def test_items_spread_over_buckets() -> None:
    digest = _digest([{"id": {"N": str(i)}} for i in range(1600)], key=NUMERIC_KEY)
    counts = [digest.count_of(b) for b in range(16)]
    assert min(counts) > 50  # about 100 each


def test_dict_round_trip_through_json() -> None:
    digest = _digest([{"name": {"S": "a"}, "city": {"S": "b"}}], buckets=4)
    data = orjson.loads(orjson.dumps(digest.to_dict()))
    assert BucketDigest.from_dict(data) == digest
    assert BucketDigest.from_dict(data).total_count == 1


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"buckets": 2, "counts": [0], "sums": ["0", "0"]},
        {"buckets": 1, "counts": [0], "sums": ["zz"]},
        {"buckets": "x", "counts": [], "sums": []},
    ],
)
def test_malformed_dict_is_corrupt(data: dict[str, object]) -> None:
    with pytest.raises(CorruptDataError):
        BucketDigest.from_dict(data)


def test_incompatible_digests_cannot_be_combined() -> None:
    with pytest.raises(ValueError, match="4 and 8 buckets"):
        BucketDigest(4).merge(BucketDigest(8))
    with pytest.raises(ValueError, match="at least one bucket"):
        BucketDigest(0)


def test_sums_wrap_at_128_bits() -> None:
    digest = _digest([{"id": {"N": str(i)}} for i in range(500)], buckets=1, key=NUMERIC_KEY)
    assert 0 <= int(digest.to_dict()["sums"][0], 16) < 2**128
    assert repr(digest) == "BucketDigest(buckets=1, total_count=500)"
