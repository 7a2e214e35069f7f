"""Notifications: run events sent to a webhook or an SNS topic (``ddbmigrate.aws.sns``).

Core only: the SNS notifier lives in ``ddbmigrate.aws.sns`` because it needs boto3; anything
with ``send(event)`` is a ``Notifier``.
"""

from ddbmigrate.notify.events import (
    EVENT_KINDS,
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
from ddbmigrate.notify.webhook import WebhookNotifier, redact

__all__ = [
    "EVENT_KINDS",
    "EventError",
    "EventKind",
    "MultiNotifier",
    "NotificationError",
    "Notifier",
    "RunEvent",
    "RunNotifications",
    "WebhookNotifier",
    "failure_line",
    "redact",
    "target_of",
]
