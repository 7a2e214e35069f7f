"""pages.py: a Scan page costs about one second of its segment's share of the budget; a
throttled page is charged what it would have cost (retry.metered)."""

from __future__ import annotations

import random
import threading

import pytest

from ddbmigrate.errors import ThrottledError
from ddbmigrate.exporter import ExportOptions, export_table
from ddbmigrate.model import Item, KeyAttribute, KeySchema, Segment
from ddbmigrate.pages import PageSizer
from ddbmigrate.ports import ScanPage, Unlimited
from ddbmigrate.retry import RetryPolicy, metered
from ddbmigrate.testing import FakeAdmin, FakeClock, FakeTable, MemoryStore
from ddbmigrate.throttle import CapacityBudget
from ddbmigrate.validator import ValidateOptions, validate_tables

KEY = KeySchema(KeyAttribute("pk", "S"))
ITEM_BYTES = 1_000


def kilobyte_items(table: FakeTable, count: int) -> None:
    for n in range(count):
        table.put({"pk": {"S": f"k{n:06d}"}, "pad": {"S": "x" * (ITEM_BYTES - 12)}})


class Recording:
    """A reader that remembers each Scan's segment, Limit and cost."""

    def __init__(self, table: FakeTable) -> None:
        self.table = table
        self.pages: list[tuple[int, int | None, float]] = []
        self._lock = threading.Lock()

    @property
    def table_name(self) -> str:
        return self.table.table_name

    def scan(
        self,
        *,
        segment: Segment,
        start_key: Item | None = None,
        limit: int | None = None,
        consistent: bool = False,
    ) -> ScanPage:
        page = self.table.scan(
            segment=segment, start_key=start_key, limit=limit, consistent=consistent
        )
        with self._lock:
            self.pages.append((segment.index, limit, page.consumed))
        return page


# --- the rule ---


def test_the_first_page_is_small_and_the_next_fit_one_second_of_the_share() -> None:
    budget = CapacityBudget(48.0, clock=FakeClock())
    sizer = PageSizer(4)  # 4 segments: 12 RCU/s each
    first = sizer.plan(budget)
    assert (first.limit, first.expected) == (12, 12.0)  # 12 items assumed at 1 RCU each
    sizer.observe(12, 1.5)  # they were 1 KB: 12 KB = 3 x 4 KB, halved
    second = sizer.plan(budget)
    assert (second.limit, second.expected) == (96, 12.0)


def test_pages_shrink_while_the_budget_backs_off_and_respect_the_users_limit() -> None:
    budget = CapacityBudget(48.0, clock=FakeClock())
    sizer = PageSizer(4, ceiling=50)
    sizer.observe(96, 12.0)
    assert sizer.plan(budget).limit == 50  # the user's Limit is a ceiling
    budget.on_throttled()  # 24 RCU/s: 6 RCU per segment
    assert sizer.plan(budget).limit == 48


def test_without_a_budget_pages_are_dynamodbs_own() -> None:
    plan = PageSizer(4, consistent=True).plan(Unlimited())
    assert (plan.limit, plan.expected) == (None, 256.0)


# --- the rule in the export and in validation ---


def test_export_pages_cost_at_most_a_second_of_the_segments_share() -> None:
    table = FakeTable("src", KEY)
    kilobyte_items(table, 600)
    admin = FakeAdmin()
    admin.add_table(table)
    schema = admin.read_schema("src")
    assert schema is not None
    reader = Recording(table)

    result = export_table(
        reader=reader,
        schema=schema,
        store=MemoryStore(),
        options=ExportOptions(segments=4, workers=1),
        clock=FakeClock(),
        budget=CapacityBudget(48.0, clock=FakeClock()),
    )

    assert result.item_count == 600
    costs = [cost for _, _, cost in reader.pages]
    # One second of a segment's share is 12 RCU (+0.5 for rounding a page up to 4 KB).
    assert max(costs) <= 12.5, reader.pages
    firsts = {}
    for segment, limit, _ in reader.pages:
        firsts.setdefault(segment, limit)
    assert set(firsts.values()) == {12}, reader.pages
    assert max(limit or 0 for _, limit, _ in reader.pages) == 96, reader.pages


def test_validation_pages_follow_the_same_rule() -> None:
    source, dest = FakeTable("src", KEY), FakeTable("dst", KEY)
    kilobyte_items(source, 400)
    kilobyte_items(dest, 400)
    readers = Recording(source), Recording(dest)
    clock = FakeClock()

    report = validate_tables(
        source=readers[0],
        dest=readers[1],
        key=KEY,
        options=ValidateOptions(segments=2, workers=1),
        clock=clock,
        budgets=(CapacityBudget(48.0, clock=clock), CapacityBudget(480.0, clock=clock)),
    )

    assert report.matches
    assert max(cost for _, _, cost in readers[0].pages) <= 24.5  # 2 segments: 24 RCU/s each
    assert max(limit or 0 for _, limit, _ in readers[0].pages) == 192
    assert max(cost for _, _, cost in readers[1].pages) <= 128  # 240 RCU/s each: full pages


# --- a throttled page ---


def test_a_throttled_page_is_charged_what_it_would_have_cost() -> None:
    """Refunding a refused page would send its retry at once, into the same empty bucket."""
    clock = FakeClock()
    budget = CapacityBudget(10.0, clock=clock)  # bucket of 10, full
    answers: list[BaseException | None] = [ThrottledError("slow down"), None]

    def call() -> float:
        answer = answers.pop(0)
        if answer is not None:
            raise answer
        return 10.0

    consumed = metered(
        call,
        budget=budget,
        expected=10.0,
        consumed=lambda units: units,
        policy=RetryPolicy(base_delay=0.0),
        clock=clock,
        rng=random.Random(0),
    )

    assert consumed == 10.0
    # The refused page kept its 10 units; at the halved rate (5/s) the retry waits 2 s.
    assert max(clock.sleeps) == pytest.approx(2.0, rel=0.01)
