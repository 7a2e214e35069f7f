"""``ddbmigrate.boost.CapacityPort`` on boto3: DynamoDB UpdateTable and Application Auto
Scaling (``application-autoscaling``) of one side."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from ddbmigrate.aws.dynamodb import json_safe
from ddbmigrate.aws.errors import translate
from ddbmigrate.aws.session import SideSession
from ddbmigrate.boost import TABLE, DecreaseRefusedError, ScalingTarget, Units
from ddbmigrate.clock import SystemClock
from ddbmigrate.errors import DdbMigrateError, FatalError
from ddbmigrate.ports import Clock

POLL_SECONDS = 5.0
ACTIVE_TIMEOUT = 1800.0
_NAMESPACE = "dynamodb"


class BotoCapacityPort:
    """The capacity settings of one side's tables."""

    def __init__(self, session: SideSession, *, clock: Clock | None = None) -> None:
        self._session = session
        self._clock: Clock = clock or SystemClock()

    def describe(self, table: str) -> dict[str, Any]:
        response = self._call("dynamodb", "describe_table", f"table {table!r}", TableName=table)
        return dict(json_safe(response["Table"]))

    def scaling_targets(self, table: str, indexes: Sequence[str]) -> list[ScalingTarget]:
        ids = [f"table/{table}"] + [f"table/{table}/index/{index}" for index in indexes]
        found: list[ScalingTarget] = []
        kwargs: dict[str, Any] = {"ServiceNamespace": _NAMESPACE, "ResourceIds": ids}
        while True:
            page = self._call(
                "application-autoscaling",
                "describe_scalable_targets",
                f"the auto scaling of table {table!r}",
                **kwargs,
            )
            found += [_target(t) for t in page.get("ScalableTargets", [])]
            if not page.get("NextToken"):
                return found
            kwargs["NextToken"] = page["NextToken"]

    def set_scaling(self, target: ScalingTarget) -> None:
        self._call(
            "application-autoscaling",
            "register_scalable_target",
            f"the auto scaling of {target.resource_id}",
            ServiceNamespace=_NAMESPACE,
            ResourceId=target.resource_id,
            ScalableDimension=target.dimension,
            MinCapacity=target.min,
            MaxCapacity=target.max,
        )

    def set_provisioned(self, table: str, index: str, units: Units) -> None:
        throughput = {"ReadCapacityUnits": units.read, "WriteCapacityUnits": units.write}
        self._update(table, index, "ProvisionedThroughput", throughput)

    def set_on_demand(self, table: str, index: str, units: Units) -> None:
        maximum = {"MaxReadRequestUnits": units.read, "MaxWriteRequestUnits": units.write}
        self._update(table, index, "OnDemandThroughput", maximum)

    def _update(self, table: str, index: str, field: str, value: dict[str, int]) -> None:
        what = f"set the {field} of table {table!r}" + (f" index {index!r}" if index else "")
        if index == TABLE:
            request: dict[str, Any] = {field: value}
        else:
            request = {
                "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": index, field: value}}]
            }
        self._call("dynamodb", "update_table", what, TableName=table, **request)
        self._wait_active(table)

    def _wait_active(self, table: str) -> None:
        # AWS refuses the next UpdateTable while the table or an index is UPDATING.
        deadline = self._clock.monotonic() + ACTIVE_TIMEOUT
        while not _active(self.describe(table)):
            if self._clock.monotonic() > deadline:
                raise FatalError(f"table {table!r} is not ACTIVE after {ACTIVE_TIMEOUT:.0f} s")
            self._clock.sleep(POLL_SECONDS)

    def _call(self, service: str, method: str, what: str, **kwargs: Any) -> Any:
        operation = "".join(part.title() for part in method.split("_"))
        prefix = "application-autoscaling" if service != "dynamodb" else "dynamodb"
        try:
            return getattr(self._session.client(service), method)(**kwargs)
        except ClientError as exc:
            if _code(exc) == "LimitExceededException" and method == "update_table":
                raise DecreaseRefusedError(f"{what}: {_message(exc)}") from exc
            raise translate(exc, what=what, action=f"{prefix}:{operation}") from exc
        except DdbMigrateError:
            raise
        except Exception as exc:
            raise translate(exc, what=what, action=f"{prefix}:{operation}") from exc


def _target(body: dict[str, Any]) -> ScalingTarget:
    return ScalingTarget(
        resource_id=str(body["ResourceId"]),
        dimension=str(body["ScalableDimension"]),
        min=int(body["MinCapacity"]),
        max=int(body["MaxCapacity"]),
    )


def _active(description: dict[str, Any]) -> bool:
    indexes = description.get("GlobalSecondaryIndexes") or []
    return description.get("TableStatus") == "ACTIVE" and all(
        i.get("IndexStatus") == "ACTIVE" for i in indexes
    )


def _code(exc: ClientError) -> str:
    return str((exc.response or {}).get("Error", {}).get("Code") or "")


def _message(exc: ClientError) -> str:
    return str((exc.response or {}).get("Error", {}).get("Message") or _code(exc))
