"""A live run's notifications: replay started, caught up, fell behind, cutover done.

The replay's passes report here (``steps.live.follow``); :class:`LagAlarm` turns the lag of
each pass into at most one event per crossing. The lag is the replay's own
(``live.replay.ReplayStatus``): now minus the newest applied change. Sent through the run's
``MultiNotifier``, so a target that fails is a warning and never fails the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from ddbmigrate.notify.events import BEHIND_AFTER, EventError, RunNotifications

AlarmState = Literal["catching_up", "caught_up", "behind"]
Crossing = Literal["caught_up", "fell_behind"]


class ReplayFigures(Protocol):
    """What the events read of a replay's standing (``live.ReplayStatus``)."""

    @property
    def lag(self) -> float | None: ...

    def to_dict(self) -> dict[str, object]: ...


@dataclass(slots=True)
class LagAlarm:
    """Decides, pass after pass, whether the replay caught up or fell behind.

    The rule (hysteresis, docs/adr/0048): a replay *catches up* at a pass that counts as
    caught up (it found nothing new, or its lag is a few seconds: ``steps.live``); it *falls
    behind* when, having caught up, a pass ends with a lag over ``behind_after``; it is
    caught up again only at a pass that counts as caught up, not when the lag merely dips
    under ``behind_after``. So a lag wavering around the threshold sends one event, and
    each event is sent once per crossing, never once per pass or page. The first catch-up
    after the copy is not falling behind: its lag is the copy's duration.
    """

    behind_after: float = BEHIND_AFTER
    state: AlarmState = "catching_up"

    def after_pass(self, *, caught_up: bool, lag: float | None) -> Crossing | None:
        """The crossing a pass made (and the new state), or None."""
        if caught_up:
            if self.state == "caught_up":
                return None
            self.state = "caught_up"
            return "caught_up"
        if self.state == "caught_up" and lag is not None and lag > self.behind_after:
            self.state = "behind"
            return "fell_behind"
        return None


class LiveEvents:
    """The live events of one command's replay of one stream, sent as the run's."""

    def __init__(self, run: RunNotifications, *, stream_arn: str) -> None:
        self.run = run
        self.stream_arn = stream_arn
        self.alarm = LagAlarm(behind_after=run.notifier.behind_after)

    def replay_started(self, status: ReplayFigures, *, shards: int) -> None:
        """The replay begins (or resumes): the stream and how many shards it lists."""
        self.run.live_event("replay_started", self._figures(status, shards=shards))

    def replay_passed(self, status: ReplayFigures, *, caught_up: bool) -> None:
        """A pass over every shard ended: ``caught_up`` or ``fell_behind`` on a crossing."""
        crossing = self.alarm.after_pass(caught_up=caught_up, lag=status.lag)
        if crossing is not None:
            self.run.live_event(crossing, self._figures(status))

    def cutover_done(
        self,
        status: ReplayFigures | None,
        *,
        counts: Mapping[str, int] | None = None,
        error: BaseException | EventError | None = None,
    ) -> None:
        """The cutover ended: MATCH (``error`` None) with the validation's counts, or why
        not (the tables differ, or it stopped)."""
        found = error if error is None or isinstance(error, EventError) else EventError.of(error)
        figures = self._figures(status) if status else {"stream_arn": self.stream_arn}
        self.run.live_event("cutover", figures, counts=counts, error=found)

    def _figures(self, status: ReplayFigures, **more: object) -> dict[str, object]:
        return {
            "stream_arn": self.stream_arn,
            **more,
            **status.to_dict(),
            "behind_after_seconds": self.alarm.behind_after,
        }


def notifying(observer: object) -> RunNotifications | None:
    """The run's notifications when ``observer`` is them and they have a target, else None
    (then a live step makes no call only the events need)."""
    if isinstance(observer, RunNotifications) and observer.notifier:
        return observer
    return None
