"""In-memory fakes of the ports, shipped so users can test code built on ddbmigrate."""

from ddbmigrate.testing.fakes import FakeAdmin, FakeClock, FakeTable, FaultPlan, MemoryStore

__all__ = ["FakeAdmin", "FakeClock", "FakeTable", "FaultPlan", "MemoryStore"]
