"""Notifications: run events sent to a webhook or an SNS topic (``ddbmigrate.aws.sns``).

Core only: the SNS notifier lives in ``ddbmigrate.aws.sns`` because it needs boto3; anything
with ``send(event)`` is a ``Notifier``.
"""

from ddbmigrate.notify.events import (
    BEHIND_AFTER,
    EVENT_KINDS,
    LIVE_KINDS,
    EventError,
    EventKind,
    MultiNotifier,
    NotificationError,
    Notifier,
    RunEvent,
    RunNotifications,
    failure_line,
    target_of,
)
from ddbmigrate.notify.live import LagAlarm, LiveEvents, notifying
from ddbmigrate.notify.webhook import WebhookNotifier, redact

__all__ = [
    "BEHIND_AFTER",
    "EVENT_KINDS",
    "LIVE_KINDS",
    "EventError",
    "EventKind",
    "LagAlarm",
    "LiveEvents",
    "MultiNotifier",
    "NotificationError",
    "Notifier",
    "RunEvent",
    "RunNotifications",
    "WebhookNotifier",
    "failure_line",
    "notifying",
    "redact",
    "target_of",
]
