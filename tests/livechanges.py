"""What the live-migration tests do to a source table while it is migrated: puts, updates,
deletes, two updates of one item in the same second, a delete then a re-insert."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

SOURCE_ITEMS = 12
"""Items ``alltypes.create_source`` puts before the migration."""
AFTER_CHANGES = SOURCE_ITEMS + 30 - 10 - 1 + 1
"""Items once ``changes`` and ``later_changes`` are made: 30 new, 10 of them deleted; one
deleted and one added later."""


def changes(client: Any, table: str, *, new: int = 30, delete_every: int = 3) -> Iterator[None]:
    """Puts of ``new`` items, updates, deletes of every ``delete_every``-th new item: two
    updates of one item in the same second, a delete then a re-insert; one change per step."""
    key = {"pk": {"S": "user-001"}, "sk": {"N": "1"}}
    for n in range(new):
        item = {"pk": {"S": f"new-{n}"}, "sk": {"N": str(n)}, "b": {"B": bytes([n, 0, 255])},
                "big": {"N": "12345678901234567890123456789012345678"}, "m": {"M": {}}}  # fmt: skip
        client.put_item(TableName=table, Item=item)
        yield
    for value in ("first", "second"):  # the same second: only the order tells them apart
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET city = :c, tags = :t",
            ExpressionAttributeValues={":c": {"S": value}, ":t": {"SS": [value, "x"]}},
        )
    yield
    for n in range(0, new, delete_every):
        client.delete_item(TableName=table, Key={"pk": {"S": f"new-{n}"}, "sk": {"N": str(n)}})
        yield
    client.delete_item(TableName=table, Key={"pk": {"S": "user-002"}, "sk": {"N": "2"}})
    again = {"pk": {"S": "user-002"}, "sk": {"N": "2"}, "back": {"BOOL": True}, "l": {"L": []}}
    client.put_item(TableName=table, Item=again)
    yield


def later_changes(client: Any, table: str) -> Iterator[None]:
    """Changes after ``migrate`` returned: only the cutover's replay brings them over."""
    client.update_item(
        TableName=table,
        Key={"pk": {"S": "new-1"}, "sk": {"N": "1"}},
        UpdateExpression="SET late = :l",
        ExpressionAttributeValues={":l": {"NS": ["1", "2.5"]}},
    )
    client.delete_item(TableName=table, Key={"pk": {"S": "new-2"}, "sk": {"N": "2"}})
    client.put_item(TableName=table, Item={"pk": {"S": "late"}, "sk": {"N": "0"}})
    yield


def keep_changing(client: Any, table: str, stop: threading.Event) -> Iterator[None]:
    """Updates of one item until ``stop``: a source that keeps changing however long the
    copy takes (a pause between updates leaves the machine's cores to the tool)."""
    n = 0
    while not stop.is_set():
        n += 1
        client.update_item(
            TableName=table,
            Key={"pk": {"S": "user-003"}, "sk": {"N": "3"}},
            UpdateExpression="SET visits = :n",
            ExpressionAttributeValues={":n": {"N": str(n)}},
        )
        yield
        stop.wait(0.05)


class Writer(threading.Thread):
    """Runs ``changes``, then (``keep_going``) ``keep_changing`` until ``done``, which
    waits for it and fails on any error it met."""

    def __init__(self, client: Any, table: str, *, keep_going: bool = False) -> None:
        super().__init__(daemon=True)
        self.client, self.table, self.keep_going = client, table, keep_going
        self.failures: list[BaseException] = []
        self.client_changes: Callable[[Any, str], Iterator[None]] = changes
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for _ in self.client_changes(self.client, self.table):
                pass
            if self.keep_going:
                for _ in keep_changing(self.client, self.table, self.stop):
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.failures.append(exc)

    def done(self) -> None:
        self.stop.set()
        self.join(timeout=120)
        assert not self.is_alive()
        assert self.failures == []
