"""The embedded store's machinery: connections, locks, transactions, schema, purges.

:class:`StoreBase` opens the file, brings its schema up to date, and runs reads and write
transactions (see :mod:`._sqlite` for how); :class:`~._sqlite.SQLiteStore` adds the data on top.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import ClassVar, TypeVar

from .._errors import BackendError, ServiceUnavailableError, StoreFileError
from .._retention import PurgeReport, check_duration
from ._locks import (
    BUSY_TIMEOUT_MS,
    Guard,
    NoWait,
    ReadGuard,
    ThreadState,
    WouldBlockError,
    classify,
)
from ._purge import log_purge, purge
from ._rows import now_text
from ._schema import (
    CREATE_MIGRATIONS_TABLE,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    SECURE_DELETES,
    Migration,
)

__all__ = ["DEFAULT_PATH_ENV", "MEMORY", "StoreBase", "default_path"]

logger = logging.getLogger("zep_memory_plugins.store")

_S = TypeVar("_S", bound="StoreBase")

#: Environment variable that overrides where the embedded store keeps its file.
DEFAULT_PATH_ENV = "ZEP_MEMORY_PATH"
#: Pass as ``path`` for a store that lives in memory only (tests, throwaway notebooks).
MEMORY = ":memory:"

#: How long closing waits for other processes' readers before checkpointing what it can (ms).
_CLOSE_CHECKPOINT_WAIT_MS = 1_000


def default_path() -> Path:
    """Where the embedded store lives when no path is given.

    ``$ZEP_MEMORY_PATH`` if set, else ``memory.sqlite3`` in the per-user data directory
    (``~/.local/share/zep-memory-plugins`` on Linux, the platform's equivalent elsewhere).
    Read through the library's settings: a bad value is a
    :class:`~zep_memory_plugins.ConfigurationError`.
    """
    from .._settings import read_store_path

    return Path(read_store_path())


def _release() -> str:
    from .._version import __version__

    return f"zep-memory-plugins {__version__}"


class StoreBase:
    """The store's connections, transactions, schema and purges (see :class:`SQLiteStore`)."""

    #: The migrations this class brings a file up to (see :data:`MIGRATIONS`).
    migrations: ClassVar[tuple[Migration, ...]] = MIGRATIONS
    #: How often, at most, a write looks for expired soft-deleted data (seconds).
    PURGE_CHECK_INTERVAL: ClassVar[float] = 60.0

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        retention: str | timedelta | float | None = None,
    ) -> None:
        if retention is None:
            from .._settings import read_store_retention

            self.retention = read_store_retention()
        else:
            self.retention = check_duration(retention, "retention")
        if path is None:
            path = default_path()
        self.path = str(path)
        self._local = ThreadState()
        self._closed = True
        self._scrub = False  # set by a write transaction that deleted something
        self._expired: list[PurgeReport] = []  # what it purged as expired, logged once committed
        # The first write after opening looks for expired data; then at most once a minute.
        self._ready = False
        self._next_purge = 0.0
        try:
            if self.path != MEMORY:
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._conn = self._connect()
            self._lock = Guard(self._conn, self._local)
            try:
                self._setup()
                # Reads get a connection of their own (read-only) for when the write connection
                # is busy, maybe waiting for another process; in memory there is only one.
                self._read_conn = self._conn if self.path == MEMORY else self._connect()
            except BaseException:
                self._conn.close()
                raise
            if self._read_conn is self._conn:
                self._read_lock = ReadGuard(self._lock, self._lock, self._local)
            else:
                self._read_conn.execute("PRAGMA query_only = ON")
                self._read_lock = ReadGuard(
                    self._lock, Guard(self._read_conn, self._local), self._local
                )
        except sqlite3.Error as exc:
            raise self._error(exc, opening=True) from exc
        except OSError as exc:
            raise BackendError(f"cannot open the embedded store at {self.path}: {exc}") from exc
        self._closed = False
        self._ready = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={self.path!r})"

    # -- connection ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )

    def _setup(self) -> None:
        """Configure the connection and migrate the schema, waiting out other openers.

        Switching a new file to WAL takes an exclusive lock, and SQLite reports a concurrent
        opener's lock at once instead of waiting for it: retry until the busy timeout.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.001
        while True:
            try:
                self._configure()
                return
            except sqlite3.OperationalError as exc:
                if classify(exc) != "busy" or time.monotonic() > deadline:
                    raise
            except ServiceUnavailableError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _configure(self) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        # What a delete or an update frees is overwritten with zeros, not left in the file.
        conn.execute("PRAGMA secure_delete = ON")
        # Read first: a file that is not a store this release may use is refused unchanged.
        latest = self.migrations[-1].version
        with self._lock, self._errors():
            # One read transaction: another opener may commit a migration between two reads,
            # and a version read before it with tables read after it would look foreign.
            cur = conn.cursor()
            cur.execute("BEGIN")
            try:
                current = self._schema_version(cur, latest)
            finally:
                conn.rollback()
        if self.path != MEMORY:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate(current, latest)

    def _migrate(self, current: int, latest: int) -> None:
        """Apply the migrations the file lacks, each in a transaction of its own, and record them.

        ``PRAGMA user_version`` is the number of the last migration applied, and each applied
        migration is a row of ``zep_memory_migrations``. A file that is up to date is only read.
        Openers of a new file queue on the write lock and re-read the version under it, so a
        migration is never applied twice.

        A file written before deletes were secure (schema 1, with data) is rebuilt once
        (``VACUUM``) after it gets migration 2: what its earlier deletes left in free space goes.
        """
        scrub = False
        for migration in self.migrations:
            if migration.version <= current:
                continue
            with self._write() as cur:
                current = self._schema_version(cur, latest)
                if migration.version <= current:
                    continue  # another process applied it meanwhile
                scrub = scrub or (migration is SECURE_DELETES and current >= 1)
                for statement in migration.statements:
                    cur.execute(statement)
                cur.execute(CREATE_MIGRATIONS_TABLE)
                cur.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (version, name, applied_at, applied_by)"
                    " VALUES (?, ?, ?, ?)",
                    (migration.version, migration.name, now_text(), _release()),
                )
                cur.execute(f"PRAGMA user_version = {migration.version}")
                current = migration.version
            logger.info("embedded store: applied migration %d (%s)", current, migration.name)
        if scrub:
            self._vacuum()

    def _vacuum(self) -> None:
        """Rebuild the file, leaving no free space with old data in it (best effort)."""
        with self._lock:
            try:
                self._conn.execute("VACUUM")
            except sqlite3.Error as exc:  # e.g. another process held it past the busy timeout
                logger.warning(
                    "embedded store: could not rebuild the file (%s); its free space may still "
                    "hold data deleted before this release: run VACUUM on it to clear it",
                    exc,
                )
            else:
                logger.info("embedded store: file rebuilt, free space cleared")
        self._checkpoint()

    def _schema_version(self, cur: sqlite3.Cursor, latest: int) -> int:
        """The file's schema version; :class:`StoreFileError` if a newer release wrote it."""
        version: int = cur.execute("PRAGMA user_version").fetchone()[0]
        recorded = version
        if cur.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,)
        ).fetchone():
            recorded = cur.execute(f"SELECT max(version) FROM {MIGRATIONS_TABLE}").fetchone()[0]
        newest = max(version, recorded or 0)
        if (
            newest == 0
            and cur.execute(
                "SELECT 1 FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' LIMIT 1"
            ).fetchone()
        ):
            raise StoreFileError(
                f"the file at {self.path} is a SQLite database of another application (it has "
                "tables but no zep-memory-plugins schema); it was left untouched. Give the "
                "embedded store a path of its own.",
                path=self.path,
            )
        if newest > latest:
            raise StoreFileError(
                f"the embedded store at {self.path} was written by a newer release of "
                f"zep-memory-plugins: it has schema version {newest}, this release knows up to "
                f"{latest}. Upgrade zep-memory-plugins to open it; the file was left untouched.",
                path=self.path,
            )
        return newest  # a recorded migration was applied, whatever the header says

    def no_wait(self) -> NoWait:
        """A ``with`` block within which, on this thread, calls refuse to wait for a lock.

        A call that would wait (for another thread using the store, or for another process's
        write lock) raises :class:`WouldBlockError` at once, having changed nothing. Reads on a
        file store only wait in rare cases (WAL readers do not wait for writers); writes wait
        whenever another process is writing.
        """
        return NoWait(self._local)

    def clear(self) -> None:
        """Delete every user, session and message, for good; integer ids start again at 1."""
        with self._write() as cur:
            self._scrub = True
            cur.execute("DELETE FROM messages")
            cur.execute("DELETE FROM sessions")
            cur.execute("DELETE FROM users")
            cur.execute(
                "DELETE FROM sqlite_sequence WHERE name IN ('messages', 'sessions', 'users')"
            )

    def close(self) -> None:
        """Empty the write-ahead log into the file, then close the connections.

        Further calls fail. With the log emptied (``wal_checkpoint(TRUNCATE)``), deleted data
        is gone from the ``-wal`` file as well, even while another process keeps the store open
        (unless that process is reading at this very moment).
        """
        with self._lock:
            if not self._closed:
                if self._read_conn is not self._conn:
                    with self._read_lock:
                        self._read_conn.close()
                self._checkpoint(wait_ms=_CLOSE_CHECKPOINT_WAIT_MS)
                self._conn.close()
                self._closed = True

    def _checkpoint(self, wait_ms: int = 0) -> None:
        """Copy the write-ahead log into the file and truncate it to zero bytes.

        Waits at most ``wait_ms`` for other processes' readers and writers; when they are busy,
        copies what it can (SQLite's passive checkpoint) and leaves the rest to the next one.
        """
        if self.path == MEMORY:
            return
        with self._lock, self._lock.waiting_at_most(wait_ms):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as exc:  # best effort: the data is safe either way
                logger.debug("embedded store: checkpoint skipped (%s)", exc)

    @property
    def _reader(self) -> sqlite3.Connection:
        """The connection of the read in progress on this thread (inside ``_read_lock``)."""
        return self._local.reading[-1].conn

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, *, auto_purge: bool = True) -> Iterator[sqlite3.Cursor]:
        """One write transaction, taken with ``BEGIN IMMEDIATE`` so that writers queue up.

        It first hard-deletes the soft-deleted data the retention has expired, when a look is
        due: the first write after opening, then at most every :attr:`PURGE_CHECK_INTERVAL`
        seconds. After a transaction that deleted something (``self._scrub`` set), the
        write-ahead log is checkpointed.
        """
        purging = auto_purge and self._ready and time.monotonic() >= self._next_purge
        with self._lock, self._errors():
            self._scrub = False
            self._expired = []
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if purging:
                    self._free_expired(cur)
                yield cur
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
            if purging:
                self._next_purge = time.monotonic() + self.PURGE_CHECK_INTERVAL
            for report in self._expired:  # committed: now it can be said
                log_purge("expired", report)
            if self._scrub:
                self._checkpoint()  # still holding the lock: it never has to wait for it

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Cursor]:
        """A consistent snapshot for reads that take more than one statement."""
        with self._read_lock, self._errors():
            cur = self._reader.cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            finally:
                self._reader.rollback()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError:
            raise  # the callers turn it into AlreadyExistsError
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        except UnicodeDecodeError as exc:  # text in the file that is not UTF-8: damage
            raise self._damaged(exc) from exc

    def _error(self, exc: sqlite3.Error, *, opening: bool = False) -> Exception:
        """The library's error for a SQLite error, classified by SQLite's result code."""
        kind = classify(exc)
        if kind == "busy" and self._local.quick:
            return WouldBlockError(str(exc))
        if kind == "busy":
            return ServiceUnavailableError(
                f"the embedded store at {self.path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_MS // 1000} s: {exc}"
            )
        if kind == "damaged":
            return self._damaged(exc)
        doing = "cannot open the embedded store" if opening else "embedded store"
        return BackendError(f"{doing} at {self.path}: {exc}")

    def _damaged(self, exc: Exception) -> StoreFileError:
        return StoreFileError(
            f"the embedded store at {self.path} is not a SQLite database or is damaged "
            f"({exc}). It was left as it is: restore it from a backup, or move it aside to "
            "start a new, empty store at that path.",
            path=self.path,
        )

    # -- purge -----------------------------------------------------------------------------

    def purge_deleted(self, older_than: str | timedelta | float | None = None) -> PurgeReport:
        """Hard-delete what was soft-deleted more than ``older_than`` ago; say what went.

        ``older_than`` defaults to the store's :attr:`retention`; ``0`` purges every
        soft-deleted session and message now. A purged session is gone for good (its id is
        free for a new session, its messages' uuids for new messages); a session revived since
        its delete stays, and only the messages that delete left are removed.
        """
        age = self.retention if older_than is None else check_duration(older_than, "older_than")
        # Not the automatic look first: this call's report names all it purges.
        with self._write(auto_purge=False) as cur:
            report = self._purge(cur, age)
            self._scrub = bool(report.sessions)
        if age <= self.retention:  # what the automatic look would have purged is gone too
            self._next_purge = time.monotonic() + self.PURGE_CHECK_INTERVAL
        if report.sessions:
            log_purge("on request", report)
        return report

    def _purge(self, cur: sqlite3.Cursor, older_than: timedelta) -> PurgeReport:
        """Within ``cur``'s transaction: hard-delete data soft-deleted ``older_than`` ago."""
        try:
            return purge(cur, older_than)
        except ValueError as exc:  # a damaged time
            raise self._damaged(exc) from exc

    def _free_expired(self, cur: sqlite3.Cursor) -> bool:
        """Purge what the retention has expired, now; whether anything went.

        For the paths where an expired session's id (or a message uuid) is wanted again.
        """
        report = self._purge(cur, self.retention)
        if report.sessions:
            self._expired.append(report)
            self._scrub = True
        return bool(report.sessions)
