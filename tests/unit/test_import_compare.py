"""plan's rows comparing batch, bulk and native imports, and the boost's."""

from __future__ import annotations

from ddbmigrate.import_compare import ImportPrices, TableFigures, boost_lines, method_lines

PRICES = ImportPrices()
PROVISIONED = {"ItemCount": 3_600_000, "TableSizeBytes": 3_600_000 * 900}
ON_DEMAND = {**PROVISIONED, "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}}


def test_write_units_count_started_kilobytes() -> None:
    figures = TableFigures.of({"ItemCount": 10, "TableSizeBytes": 10 * 1500}, batch_rate=5)
    assert figures.write_units == 20


def test_batch_bulk_and_native_rows_for_a_provisioned_table() -> None:
    lines = method_lines(TableFigures.of(PROVISIONED, batch_rate=1000), PRICES)
    batch, bulk, native = lines
    assert batch.startswith("import batch   ~60 min at 1,000 WCU/s, ~$0.65")
    assert "provisioned WCU-hours" in batch
    assert bulk.startswith("import bulk    ~59 min at 1,024 WRU/s (assumed")
    assert "~$2.25" in bulk
    assert native.startswith("import native  new table only")
    assert "~$0.45" in native


def test_on_demand_batch_costs_write_units_and_bulk_uses_the_given_rate() -> None:
    figures = TableFigures.of(ON_DEMAND, batch_rate=1000, bulk_max_wru=4096)
    batch, bulk, _ = method_lines(figures, PRICES)
    assert "~$2.25 (on-demand write units)" in batch
    assert "~15 min at 4,096 WRU/s," in bulk
    assert "assumed;" not in bulk


def test_boost_row_prices_the_extra_units_for_at_least_an_hour() -> None:
    figures = TableFigures.of(PROVISIONED, batch_rate=5)
    (line,) = boost_lines(figures, current_wcu=5, boost_to=1005, prices=PRICES)
    assert "5 -> 1,005 WCU" in line
    assert "~60 min" in line
    assert "~$0.65" in line


def test_boost_rows_for_on_demand_and_for_enough_capacity() -> None:
    on_demand = TableFigures.of(ON_DEMAND, batch_rate=5)
    assert (
        "on-demand maximum"
        in boost_lines(on_demand, current_wcu=None, boost_to=100, prices=PRICES)[0]
    )
    provisioned = TableFigures.of(PROVISIONED, batch_rate=5)
    assert (
        "nothing to raise"
        in boost_lines(provisioned, current_wcu=500, boost_to=100, prices=PRICES)[0]
    )
