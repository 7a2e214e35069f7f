"""The real clock; tests use ``ddbmigrate.testing.FakeClock`` instead."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SystemClock:
    """Wall and monotonic time from the operating system."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def now_iso(self) -> str:
        now = datetime.now(UTC)
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
