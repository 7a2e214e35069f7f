"""The real clock; tests use ``ddbmigrate.testing.FakeClock`` instead."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class SystemClock:
    """Wall and monotonic time from the operating system.

    Deadlines are monotonic times of the process that set them. A clock pickled into a
    Spark task on another host (whose monotonic clock started at its own boot) translates
    through wall time, so a deadline means the same moment there; on the same host, the
    monotonic clock is shared and used as it is.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = offset

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def now_iso(self) -> str:
        now = datetime.now(UTC)
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def __reduce__(self) -> tuple[Any, ...]:
        # The wall time at which this clock's monotonic time was zero, and where it runs.
        return (_clock_from, (_boot_id(), time.time() - self.monotonic()))


def _clock_from(boot_id: str, wall_at_zero: float) -> SystemClock:
    if boot_id and boot_id == _boot_id():
        return SystemClock()
    return SystemClock(offset=time.time() - wall_at_zero - time.monotonic())


def _boot_id() -> str:
    """Names this boot of this host (Linux); empty elsewhere, which always translates."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""
