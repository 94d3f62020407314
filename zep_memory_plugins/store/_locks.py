"""The store's connection locks: one per connection, and the ``no_wait`` mode of async calls.

Inside :meth:`SQLiteStore.no_wait` a call refuses to wait for a lock (:class:`WouldBlockError`):
the embedded backend's async methods use it to leave the event loop only when they would have
to wait.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

__all__ = ["BUSY_TIMEOUT_MS", "WouldBlockError"]

#: How long a writer waits for another process's transaction before giving up, in ms. Long
#: enough for any batch the library writes; short enough that a stuck process is reported.
BUSY_TIMEOUT_MS = 30_000

# SQLite's primary result codes that this module tells apart.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26


class WouldBlockError(Exception):
    """Raised inside :meth:`SQLiteStore.no_wait` instead of waiting for a lock.

    The call did nothing (a write transaction it had begun is rolled back): run it again where
    waiting is harmless, for example on a worker thread.
    """


def classify(exc: sqlite3.Error) -> str:
    """``"busy"``, ``"damaged"`` or ``"other"``, by SQLite's result code.

    Python 3.10 has no ``sqlite_errorcode``; there, and only there, SQLite's fixed English
    messages for those codes are read instead.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        primary = code & 0xFF
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return "busy"
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return "damaged"
        return "other"
    message = str(exc)
    if "locked" in message or "busy" in message:
        return "busy"
    if "not a database" in message or "malformed" in message:
        return "damaged"
    return "other"


class ThreadState(threading.local):
    """Per thread: whether a :meth:`SQLiteStore.no_wait` block is open, and reads in progress.

    ``reading`` holds the guards of the connections the thread's reads in progress hold.
    """

    def __init__(self) -> None:
        self.quick = False
        self.reading: list[Guard] = []


class ReadGuard:
    """Where a read runs: the write connection when it is free, else the read connection.

    The write connection's cache already holds what this process wrote; the read connection
    serves when the write connection is busy (maybe waiting for another process), so that a read
    never queues behind such a write. :attr:`SQLiteStore._reader` is the one chosen.
    """

    __slots__ = ("_local", "_read", "_write")

    def __init__(self, write: Guard, read: Guard, local: ThreadState) -> None:
        self._write = write
        self._read = read
        self._local = local

    def __enter__(self) -> None:
        if self._write.try_enter():
            guard = self._write
        else:
            guard = self._read
            guard.__enter__()
        self._local.reading.append(guard)

    def __exit__(self, *exc: object) -> None:
        self._local.reading.pop().__exit__()


class NoWait:
    """The context manager :meth:`SQLiteStore.no_wait` returns."""

    __slots__ = ("_local", "_previous")

    def __init__(self, local: ThreadState) -> None:
        self._local = local
        self._previous = False

    def __enter__(self) -> None:
        self._previous = self._local.quick
        self._local.quick = True

    def __exit__(self, *exc: object) -> None:
        self._local.quick = self._previous


class Guard:
    """One connection's lock, which a :meth:`SQLiteStore.no_wait` block makes refuse to wait.

    Inside such a block on the entering thread, it raises :class:`WouldBlockError` rather than
    wait for another thread, and sets the connection's busy timeout to 0 while held, so that
    SQLite refuses rather than waits for another process too.
    """

    __slots__ = ("_conn", "_depth", "_local", "_lock", "_quick")

    def __init__(self, conn: sqlite3.Connection, local: ThreadState) -> None:
        self._conn = conn
        self._local = local
        self._lock = threading.RLock()
        self._depth = 0
        self._quick = False

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection this lock guards."""
        return self._conn

    def __enter__(self) -> None:
        if not self.try_enter(blocking=not self._local.quick):
            raise WouldBlockError("another thread is using the store's connection")

    def try_enter(self, blocking: bool = False) -> bool:
        """Take the lock if it is free (or wait for it): whether it was taken."""
        if not self._lock.acquire(blocking=blocking):
            return False
        self._depth += 1
        if self._depth == 1 and self._local.quick:
            self._busy_timeout(0)
            self._quick = True
        return True

    def __exit__(self, *exc: object) -> None:
        if self._depth == 1 and self._quick:
            self._busy_timeout(BUSY_TIMEOUT_MS)
            self._quick = False
        self._depth -= 1
        self._lock.release()

    def _busy_timeout(self, ms: int) -> None:
        # A closed connection refuses: the statement that follows reports it.
        with suppress(sqlite3.ProgrammingError):
            self._conn.execute(f"PRAGMA busy_timeout = {ms}")

    @contextmanager
    def waiting_at_most(self, ms: int) -> Iterator[None]:
        """Within the block (the lock held), SQLite waits at most ``ms`` for other processes."""
        if self._quick:
            yield  # already 0
            return
        self._busy_timeout(ms)
        try:
            yield
        finally:
            self._busy_timeout(BUSY_TIMEOUT_MS)
