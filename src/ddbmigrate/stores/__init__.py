"""Store implementations that need no AWS: a local directory. The S3 store lives in ``aws/``."""

from ddbmigrate.stores.local import LocalStore

__all__ = ["LocalStore"]
