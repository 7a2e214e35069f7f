"""``notify.Notifier`` on an SNS topic: each event published as JSON.

The topic's region comes from its ARN and the client is made in that region, so a topic in
eu-west-1 works from a run in us-east-1. The topic may belong to another account (a central
operations account): then its topic policy, not IAM alone, must allow our ``sns:Publish``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import boto3
from botocore import exceptions as bce

from ddbmigrate.aws.errors import translate
from ddbmigrate.aws.session import SideSession, botocore_session, client_config
from ddbmigrate.errors import ConfigError, DdbMigrateError
from ddbmigrate.notify.events import NotificationError, RunEvent

_ARN = re.compile(
    r"^arn:(?P<partition>aws[\w-]*):sns:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<name>[\w-]{1,256}(?:\.fifo)?)$"
)
_ACCESS_CODES = frozenset({"AuthorizationError", "AccessDenied", "AccessDeniedException"})
_KMS_CODES = frozenset(
    {"KMSAccessDenied", "KMSDisabled", "KMSInvalidState", "KMSNotFound", "KMSOptInRequired"}
)


@dataclass(frozen=True, slots=True)
class TopicArn:
    """``arn:aws:sns:<region>:<account>:<name>``, parsed."""

    arn: str
    region: str
    account: str
    name: str

    @classmethod
    def parse(cls, arn: str) -> TopicArn:
        match = _ARN.match(arn.strip())
        if match is None:
            raise ConfigError(
                f"--notify-sns {arn!r} is not an SNS topic ARN",
                hint="pass the topic's ARN, arn:aws:sns:REGION:ACCOUNT_ID:TOPIC "
                "(aws sns list-topics shows it)",
            )
        return cls(arn.strip(), match["region"], match["account"], match["name"])

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


class SnsNotifier:
    """Publishes ``event.to_json()`` to a topic, acting as ``session``'s identity."""

    def __init__(self, session: SideSession, topic_arn: str) -> None:
        self.topic = TopicArn.parse(topic_arn)
        self.session = session
        self.target = f"SNS topic {self.topic.arn}"
        self._client: Any = None

    def send(self, event: RunEvent) -> None:
        body = event.to_json()
        request: dict[str, Any] = {
            "TopicArn": self.topic.arn,
            "Subject": event.subject(),
            "Message": body,
            # Lets subscriptions filter, e.g. only failures to the pager.
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": event.kind}},
        }
        if self.topic.fifo:  # FIFO topics refuse a Publish without these
            request["MessageGroupId"] = event.run_id or "ddbmigrate"
            request["MessageDeduplicationId"] = hashlib.sha256(body.encode()).hexdigest()
        try:
            self._sns().publish(**request)
        except Exception as exc:
            raise self._error(exc) from exc

    def _sns(self) -> Any:
        """A client in the topic's region (the session's own client when the regions agree)."""
        if self._same_region():
            return self.session.client("sns")
        if self._client is None:
            self._client = self._regional_client()
        return self._client

    def _same_region(self) -> bool:
        try:
            return self.session.region == self.topic.region
        except ConfigError:  # the side names no region: the topic's ARN does
            return False

    def _regional_client(self) -> Any:
        # Built on the side's credentials object, not a frozen copy, so an assumed role keeps
        # refreshing through a run of many hours; the profile still supplies its settings.
        core = botocore_session(self.session.side.profile, self.session.credentials())
        try:
            return boto3.Session(botocore_session=core).client(
                "sns",
                region_name=self.topic.region,
                endpoint_url=self.session.side.endpoint_url,
                config=client_config("sns", path_style=False),
            )
        except Exception as exc:
            raise translate(exc, what=f"SNS client for {self.topic.region}") from exc

    def _error(self, exc: Exception) -> DdbMigrateError:
        code = _code(exc)
        if code in _ACCESS_CODES:
            return self._access_error(code)
        if code in ("NotFound", "NotFoundException"):
            return NotificationError(
                f"{self.target} does not exist (NotFound)",
                hint=f"check the ARN's region ({self.topic.region}) and account "
                f"({self.topic.account}), or create the topic",
            )
        if code in _KMS_CODES:
            return NotificationError(
                f"{self.target} is encrypted with a KMS key {self._identity()} cannot use ({code})",
                hint="allow kms:GenerateDataKey* and kms:Decrypt for that identity in the "
                "topic's key policy",
            )
        error = translate(exc, what=self.target, action="sns:Publish", resource=self.topic.arn)
        return NotificationError(error.message, hint=error.hint)

    def _access_error(self, code: str) -> NotificationError:
        account = self._account()
        if account is not None and account != self.topic.account:
            return NotificationError(
                f"{self.target} is in account {self.topic.account} and refused Publish from "
                f"account {account} ({code})",
                hint=f"allow sns:Publish for {self._identity()} in the topic policy of "
                f"{self.topic.arn}",
            )
        return NotificationError(
            f"{self.target} refused Publish ({code})",
            hint=f"grant sns:Publish on {self.topic.arn} to {self._identity()} in IAM "
            "(and check the topic policy)",
        )

    def _account(self) -> str | None:
        try:
            return self.session.account_id()
        except DdbMigrateError:
            return None

    def _identity(self) -> str:
        side = self.session.side
        return f"role {side.role_arn}" if side.role_arn else f"the identity of {side.describe()}"


def _code(exc: Exception) -> str:
    if isinstance(exc, bce.ClientError):
        return str((exc.response or {}).get("Error", {}).get("Code") or "")
    return ""
