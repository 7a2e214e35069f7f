"""The local engine: results in order, the first error stops the siblings."""

from __future__ import annotations

import threading
import time

import pytest

from ddbmigrate.engines import base, local
from ddbmigrate.engines.local import Cancelled, run_units
from ddbmigrate.errors import ConfigError, FatalError


def test_results_come_back_in_unit_order() -> None:
    assert run_units(lambda u, _stop: u * 2, [3, 1, 2], workers=2) == [6, 2, 4]


def test_no_units_is_no_work() -> None:
    assert run_units(lambda u, _stop: u, [], workers=4) == []


def test_first_fatal_error_stops_the_rest() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def unit(n: int, stop: threading.Event) -> int:
        with lock:
            started.append(n)
        if n == 0:
            raise FatalError("boom")
        for _ in range(200):
            if stop.is_set():
                raise Cancelled
            time.sleep(0.005)
        return n

    with pytest.raises(FatalError, match="boom"):
        run_units(unit, list(range(20)), workers=2)
    assert len(started) < 20, "queued units must not start after a failure"


def test_workers_must_be_between_one_and_four_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "cpu_count", lambda: 2)
    with pytest.raises(ConfigError, match="--workers 0 must be at least 1"):
        local.check_workers(0)
    with pytest.raises(ConfigError, match="more processes than this machine's 2 cores") as caught:
        local.check_workers(9)
    assert "--threads" in (caught.value.hint or "")
    local.check_workers(8)
    with pytest.raises(ConfigError, match="--threads 0"):
        local.check_workers(2, 0)


def test_one_worker_runs_in_this_process() -> None:
    assert isinstance(local.local_engine(1, 3), local.ThreadEngine)
