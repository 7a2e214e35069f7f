"""What ``ddbmigrate.api`` stands on: AWS (or a local directory) wired into the core steps.

- ``accounts``: one side's session, stores and data plane; staging options.
- ``engines``: the engine a command asked for, checked and opened.
- ``scope``: the scaffold every recorded command runs in (engine, plan lock, ledger).
- ``managed``: AWS's managed export and import.
- ``commands``: migrate, export, import, validate, schema, plan; each composes ``steps``.
- ``records``: the runs in a staging store: resume (by the type of plan), status, cleanup.
- ``tables``: many tables of a pipeline file, side by side.
- ``reporting``: notifications, the run report, where it is written.
"""
