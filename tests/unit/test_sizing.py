"""``sizing``: a plan's table size when DescribeTable reports 0 (moto, or a table < 6 h old)."""

from __future__ import annotations

from ddbmigrate.items import item_size
from ddbmigrate.model import Item, KeyAttribute, KeySchema
from ddbmigrate.sizing import DESCRIBED, MEASURED, PAGE_BUDGET, SAMPLED, table_size
from ddbmigrate.testing import FakeTable

KEY = KeySchema(KeyAttribute("pk", "S"))
ZERO = {"ItemCount": 0, "TableSizeBytes": 0}


def _table(count: int, *, page_size: int = 1000) -> FakeTable:
    table = FakeTable("t", KEY, page_size=page_size)
    for n in range(count):
        table.put(_item(n))
    return table


def _item(n: int) -> Item:
    return {"pk": {"S": f"key-{n:06d}"}, "n": {"N": str(n)}, "pad": {"S": "x" * (n % 50)}}


def test_described_sizes_are_used_as_they_are_without_reading_the_table() -> None:
    table = _table(10)
    found = table_size({"ItemCount": 7, "TableSizeBytes": 700}, table)
    assert (found.items, found.bytes, found.basis) == (7, 700, DESCRIBED)
    assert table.scan_calls == 0


def test_a_small_table_reported_as_zero_is_measured_whole() -> None:
    table = _table(60)
    found = table_size(ZERO, table)
    assert found.items == 60
    assert found.bytes == sum(item_size(item) for item in table.items())
    assert found.basis == MEASURED
    assert table.scan_calls == 1  # the Limit-100 sample held it all


def test_an_empty_table_stays_at_zero() -> None:
    found = table_size(ZERO, _table(0))
    assert (found.items, found.bytes, found.basis) == (0, 0, DESCRIBED)


def test_a_table_too_big_to_read_is_estimated_from_one_segment_within_a_read_budget() -> None:
    table = _table(5000, page_size=10)  # 8 pages of 10 cover 80 items: too few for 1 or 16
    found = table_size(ZERO, table)
    assert found.basis == SAMPLED
    assert 3500 <= found.items <= 6500, found.items
    exact = sum(item_size(item) for item in table.items())
    assert 0.7 * exact <= found.bytes <= 1.3 * exact, (found.bytes, exact)
    assert table.scan_calls <= 1 + 3 * PAGE_BUDGET  # the sample, then at most 8 pages a step
