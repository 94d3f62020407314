"""The embedded store: Zep's user/session semantics on a local SQLite file."""

from ._sqlite import (
    BUSY_TIMEOUT_MS,
    DEFAULT_PATH_ENV,
    MEMORY,
    MIGRATIONS,
    Migration,
    SQLiteStore,
    WouldBlockError,
    default_path,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DEFAULT_PATH_ENV",
    "MEMORY",
    "MIGRATIONS",
    "Migration",
    "SQLiteStore",
    "WouldBlockError",
    "default_path",
]
