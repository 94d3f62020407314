"""The embedded store: Zep's user/session semantics on a local SQLite file."""

from ._sqlite import BUSY_TIMEOUT_MS, DEFAULT_PATH_ENV, MEMORY, SQLiteStore, default_path

__all__ = ["BUSY_TIMEOUT_MS", "DEFAULT_PATH_ENV", "MEMORY", "SQLiteStore", "default_path"]
