"""tests/itemcompare.py, the comparison the end-to-end tests trust: it must see any one
attribute of any one item differ, and nothing else."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from itemcompare import assert_same_items, differences, same_value

Item = dict[str, Any]
KEYS = ("pk", "sk")


def sample() -> list[Item]:
    return [
        {
            "pk": {"S": f"item-{n}"},
            "sk": {"N": str(n)},
            "s": {"S": "Zürich"},
            "n": {"N": "1.50"},
            "b": {"B": bytes([n, 0, 255])},
            "flag": {"BOOL": True},
            "none": {"NULL": True},
            "ss": {"SS": ["a", "b"]},
            "ns": {"NS": ["1", "2.5"]},
            "bs": {"BS": [b"\x00", b"\x01"]},
            "l": {"L": [{"S": "x"}, {"N": "7"}]},
            "m": {"M": {"inner": {"M": {"deep": {"N": "42"}}}, "e": {"L": []}}},
        }
        for n in range(7)
    ]


class FakeClient:
    """The two calls the helper makes of boto3's low-level client; pages of two items."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.scans: list[dict[str, Any]] = []

    def describe_table(self, *, TableName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        schema = [{"AttributeName": "sk", "KeyType": "RANGE"}]
        return {"Table": {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, *schema]}}

    def get_paginator(self, operation: str) -> FakeClient:
        assert operation == "scan"
        return self

    def paginate(self, **request: Any) -> Iterator[dict[str, Any]]:
        self.scans.append(request)
        for first in range(0, len(self.items), 2):
            yield {"Items": self.items[first : first + 2]}


def respelled(items: list[Item]) -> list[Item]:
    """The same values spelled otherwise: numbers with other zeros, sets in another order."""
    out = copy.deepcopy(items)
    for item in out:
        item["sk"] = {"N": item["sk"]["N"] + ".000"}
        item["n"] = {"N": "001.5"}
        item["ss"]["SS"].reverse()
        item["ns"] = {"NS": ["2.50", "1E0"]}
        item["bs"]["BS"].reverse()
        item["m"]["M"] = dict(reversed(item["m"]["M"].items()))
    return out


def test_the_same_items_spelled_otherwise_are_the_same() -> None:
    source, dest = FakeClient(sample()), FakeClient(respelled(sample()))
    assert_same_items(source, "src", dest, "dst", count=7)
    assert differences(sample(), list(reversed(respelled(sample()))), KEYS) == []
    assert source.scans == [{"TableName": "src", "ConsistentRead": True}]
    assert dest.scans == [{"TableName": "dst", "ConsistentRead": True}]


Change = Callable[[Item], None]
ONE_ATTRIBUTE_CHANGES: dict[str, Change] = {
    "string": lambda i: i.update(s={"S": "Zurich"}),
    "number": lambda i: i.update(n={"N": "1.51"}),
    "number-as-string": lambda i: i.update(n={"S": "1.50"}),
    "binary": lambda i: i["b"].update(B=i["b"]["B"][:-1] + b"\xfe"),
    "bool": lambda i: i.update(flag={"BOOL": False}),
    "null-to-bool": lambda i: i.update(none={"BOOL": True}),
    "string-set-member": lambda i: i.update(ss={"SS": ["a", "c"]}),
    "number-set-member": lambda i: i.update(ns={"NS": ["1", "2.51"]}),
    "binary-set-member": lambda i: i.update(bs={"BS": [b"\x00"]}),
    "list-order": lambda i: i["l"]["L"].reverse(),
    "nested-number": lambda i: i["m"]["M"]["inner"]["M"]["deep"].update(N="43"),
    "nested-name": lambda i: i["m"]["M"].update(E=i["m"]["M"].pop("e")),
    "attribute-dropped": lambda i: i.pop("none"),
    "attribute-added": lambda i: i.update(extra={"S": ""}),
}


@pytest.mark.parametrize("change", ONE_ATTRIBUTE_CHANGES.values(), ids=ONE_ATTRIBUTE_CHANGES)
def test_one_attribute_of_one_item_differing_fails(change: Change) -> None:
    dest = sample()
    change(dest[5])  # on the third page of the destination's scan
    with pytest.raises(AssertionError) as failure:
        assert_same_items(FakeClient(sample()), "src", FakeClient(dest), "dst")
    assert "item S:item-5, N:5: attribute" in str(failure.value)
    assert len(differences(sample(), dest, KEYS)) == 1


def test_missing_extra_and_repeated_items_are_named() -> None:
    dest = sample()
    dest.pop(2)
    dest.append({"pk": {"S": "intruder"}, "sk": {"N": "0"}})
    dest.append(copy.deepcopy(dest[0]))
    assert differences(sample(), dest, KEYS) == [
        "item S:item-0, N:0: twice in the destination",
        "item S:item-2, N:2: missing from the destination",
        "item S:intruder, N:0: in the destination only",
    ]


def test_the_count_guards_against_two_empty_tables() -> None:
    with pytest.raises(AssertionError, match="the source holds 0 items"):
        assert_same_items(FakeClient([]), "src", FakeClient([]), "dst", count=7)


def test_values_are_compared_by_dynamodb_value() -> None:
    assert same_value({"N": "100"}, {"N": "1E+2"})
    assert same_value({"N": "-0"}, {"N": "0.0"})
    assert same_value(
        {"N": "1234567890123456789012345678901234567.8"},
        {"N": "12345678901234567890123456789012345678E-1"},
    )
    assert not same_value(
        {"N": "1234567890123456789012345678901234567.8"},
        {"N": "1234567890123456789012345678901234567.9"},  # past float and 28-digit precision
    )
    assert not same_value({"S": "a"}, {"SS": ["a"]})
    assert not same_value({"L": [{"N": "1"}]}, {"NS": ["1"]})
    assert not same_value({"B": b"a"}, {"S": "a"})
