"""The steps of a run, each written once: ``schema``, ``export``, ``import_``, ``validate``.

Each is a function over one :class:`~ddbmigrate.steps.context.RunContext`; ``pipeline.migrate``
composes them, and the single-step commands of ``ddbmigrate.api`` call the same functions.
Core only: no AWS, no engine implementation.
"""
