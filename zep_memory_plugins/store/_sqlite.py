"""The embedded store: Zep's user/session/message semantics on SQLite.

Two connections per store object on a file, each guarded by a lock (safe for threads): writes
go through one, and reads too when it is free; when it is busy (maybe waiting for another
process), reads go through the other, read-only, so a read never queues behind such a write
(WAL readers do not wait for writers). WAL and a busy timeout make several processes on the
same file safe. Every write that touches more than one row runs in one ``BEGIN IMMEDIATE``
transaction, so a batch is stored whole or not at all.

The schema is an ordered list of migrations (:data:`MIGRATIONS`), each applied once per file in
a transaction of its own and recorded. Inside :meth:`SQLiteStore.no_wait` a call refuses to
wait for a lock (:class:`WouldBlockError`): the embedded backend's async methods use it to
leave the event loop only when they would have to wait.

Deleted means gone. The write connection runs with ``PRAGMA secure_delete = ON``, so SQLite
overwrites with zeros what a delete or an update frees; a session clear (soft delete) wipes its
messages' role, content, metadata and time at once and keeps each as a tombstone (its uuid
stays taken, as on Zep); and after every delete, and when the store closes, a
``wal_checkpoint(TRUNCATE)`` empties the write-ahead log, whose older frames would otherwise
still hold the pages as they were. Soft-deleted sessions and tombstones are hard-deleted once
older than the store's ``retention`` (:meth:`SQLiteStore.purge_deleted`): by the first write
after the store opens, by every delete, by a write at most once a minute, and at once where an
expired session's id is wanted again.
"""

from __future__ import annotations

import json
import logging
import operator
import os
import sqlite3
import threading
import time
import uuid as _uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from .._errors import (
    AlreadyExistsError,
    BackendError,
    NotFoundError,
    ServiceUnavailableError,
    StoreFileError,
)
from .._models import (
    CreateUserRequest,
    Message,
    MessagePage,
    Session,
    UpdateUserRequest,
    User,
    build_unvalidated,
    deep_merge,
    dumps_metadata,
    new_message_uuid,
)
from .._retention import PurgedSession, PurgeReport, check_duration

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

logger = logging.getLogger("zep_memory_plugins.store")

_M = TypeVar("_M", bound=BaseModel)

#: Environment variable that overrides where the embedded store keeps its file.
DEFAULT_PATH_ENV = "ZEP_MEMORY_PATH"
#: Pass as ``path`` for a store that lives in memory only (tests, throwaway notebooks).
MEMORY = ":memory:"

#: How long a writer waits for another process's transaction before giving up, in ms. Long
#: enough for any batch the library writes; short enough that a stuck process is reported.
BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Migration:
    """One step of the store's schema: ``statements`` run in order, in one transaction.

    ``version`` is its place in :data:`MIGRATIONS` (1, 2, ...); ``name`` says what it does.
    """

    version: int
    name: str
    statements: tuple[str, ...]


#: What a soft-deleted message keeps: its uuid (still taken, as on Zep), its session and its
#: deleted_at. Its role, content, metadata and time are wiped (the time becomes deleted_at).
_TOMBSTONE_UPDATE = (
    "UPDATE messages SET role = '', role_type = '', content = '', metadata = NULL,"
    " created_at = deleted_at"
)

#: The schema's history, oldest first. Each migration runs once per file, in order, in a
#: transaction of its own that also records it (``PRAGMA user_version`` and a row of
#: ``zep_memory_migrations``). A migration that has shipped is never edited, removed or
#: reordered: a change to the schema is a new migration appended here.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "users, sessions and messages",
        (
            """CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL UNIQUE,
    uuid        TEXT NOT NULL,
    email       TEXT,
    first_name  TEXT,
    last_name   TEXT,
    metadata    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
)""",
            """CREATE TABLE IF NOT EXISTS sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL UNIQUE,
    user_id     TEXT REFERENCES users(user_id) ON DELETE CASCADE,
    uuid        TEXT NOT NULL,
    metadata    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT
)""",
            "CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id, id)",
            """CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session     INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    uuid        BLOB NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    role_type   TEXT NOT NULL,
    content     TEXT NOT NULL,
    metadata    TEXT,
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
)""",
            "CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session, id)",
        ),
    ),
    Migration(
        2,
        "soft-deleted data: tombstones and purge indexes",
        (
            # Purges find expired rows through these (only deleted rows are indexed).
            "CREATE INDEX IF NOT EXISTS sessions_deleted ON sessions(deleted_at)"
            " WHERE deleted_at IS NOT NULL",
            "CREATE INDEX IF NOT EXISTS messages_deleted ON messages(deleted_at)"
            " WHERE deleted_at IS NOT NULL",
            # Messages soft-deleted by an earlier release become tombstones too.
            _TOMBSTONE_UPDATE + " WHERE deleted_at IS NOT NULL",
        ),
    ),
)
#: The migration after which a file from before secure deletes is rebuilt once (``VACUUM``).
_SECURE_DELETES = MIGRATIONS[1]

#: Where each applied migration is recorded. Files written before migrations were recorded
#: (release 0.1.0: ``user_version`` 1, no such table) get the table with their next migration.
_MIGRATIONS_TABLE = "zep_memory_migrations"
_CREATE_MIGRATIONS_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS_TABLE} ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL,"
    " applied_by TEXT NOT NULL)"
)

# SQLite's primary result codes that this module tells apart.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26


class WouldBlockError(Exception):
    """Raised inside :meth:`SQLiteStore.no_wait` instead of waiting for a lock.

    The call did nothing (a write transaction it had begun is rolled back): run it again where
    waiting is harmless, for example on a worker thread.
    """


def _classify(exc: sqlite3.Error) -> str:
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


class _ThreadState(threading.local):
    """Per thread: whether a :meth:`SQLiteStore.no_wait` block is open, and reads in progress.

    ``reading`` holds the guards of the connections the thread's reads in progress hold.
    """

    def __init__(self) -> None:
        self.quick = False
        self.reading: list[_Guard] = []


class _ReadGuard:
    """Where a read runs: the write connection when it is free, else the read connection.

    The write connection's cache already holds what this process wrote; the read connection
    serves when the write connection is busy (maybe waiting for another process), so that a read
    never queues behind such a write. :attr:`SQLiteStore._reader` is the one chosen.
    """

    __slots__ = ("_local", "_read", "_write")

    def __init__(self, write: _Guard, read: _Guard, local: _ThreadState) -> None:
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


class _NoWait:
    """The context manager :meth:`SQLiteStore.no_wait` returns."""

    __slots__ = ("_local", "_previous")

    def __init__(self, local: _ThreadState) -> None:
        self._local = local
        self._previous = False

    def __enter__(self) -> None:
        self._previous = self._local.quick
        self._local.quick = True

    def __exit__(self, *exc: object) -> None:
        self._local.quick = self._previous


class _Guard:
    """One connection's lock, which a :meth:`SQLiteStore.no_wait` block makes refuse to wait.

    Inside such a block on the entering thread, it raises :class:`WouldBlockError` rather than
    wait for another thread, and sets the connection's busy timeout to 0 while held, so that
    SQLite refuses rather than waits for another process too.
    """

    __slots__ = ("_conn", "_depth", "_local", "_lock", "_quick")

    def __init__(self, conn: sqlite3.Connection, local: _ThreadState) -> None:
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


_USER_COLUMNS = "id, user_id, uuid, email, first_name, last_name, metadata, created_at, updated_at"
_SESSION_COLUMNS = "id, session_id, user_id, uuid, metadata, created_at, updated_at, deleted_at"
_MESSAGE_COLUMNS = "uuid, role, role_type, content, metadata, created_at"


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _parse_time(value: str | None) -> datetime | None:
    """A time as stored (ISO 8601 text) back into a datetime."""
    return None if value is None else datetime.fromisoformat(value)


_decode = json.JSONDecoder().decode


def _loads(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded: dict[str, Any] = _decode(value)
    return loaded


#: How a user or session column read back becomes a field value, by column name (a column
#: not named here is taken as it is).
_DECODERS: dict[str, Callable[[Any], Any]] = {
    "uuid": _uuid.UUID,
    "metadata": _loads,
    **dict.fromkeys(("created_at", "updated_at", "deleted_at"), _parse_time),
}


class _Rows(Generic[_M]):
    """Builds one model from rows of ``columns`` (the store wrote them: no validation)."""

    def __init__(self, model: type[_M], columns: str) -> None:
        names = columns.split(", ")
        self.model: type[_M] = model
        self.columns = columns
        # In the model's field order: the built instance dumps and prints in that order.
        self._fields = tuple(model.model_fields)
        self._pick = operator.itemgetter(*(names.index(field) for field in self._fields))
        self._decoders = tuple(
            (field, decode) for field in self._fields if (decode := _DECODERS.get(field))
        )

    def build(self, row: Sequence[Any]) -> _M:
        values = dict(zip(self._fields, self._pick(row), strict=True))
        for field, decode in self._decoders:
            values[field] = decode(values[field])
        return build_unvalidated(self.model, values)


_USERS = _Rows(User, _USER_COLUMNS)
_SESSIONS = _Rows(Session, _SESSION_COLUMNS)


def _message_of(row: Sequence[Any]) -> Message:
    """A message from a row of ``_MESSAGE_COLUMNS``.

    Written out rather than a ``_Rows``: messages are read by the thousand, and the generic
    builder's loop costs a fifth of a last-20 read (``benchmarks/bench_store.py``).
    """
    return build_unvalidated(
        Message,
        {
            "role": row[1],
            "role_type": row[2],
            "content": row[3],
            "metadata": _loads(row[4]),
            "uuid": _uuid.UUID(bytes=row[0]),  # stored as its 16 bytes
            "created_at": _parse_time(row[5]),
        },
    )


#: How long closing waits for other processes' readers before checkpointing what it can (ms).
_CLOSE_CHECKPOINT_WAIT_MS = 1_000


def _log_purge(why: str, report: PurgeReport) -> None:
    """One log line: counts only (session ids may be personal; content never is logged)."""
    logger.info(
        "embedded store: purged %s soft-deleted data: %d sessions, %d messages",
        why,
        len(report.session_ids),
        report.message_count,
    )


def _cutoff(older_than: timedelta) -> str:
    """The deleted_at (as stored) at or before which data soft-deleted ``older_than`` ago is."""
    return (datetime.now(timezone.utc) - older_than).isoformat()


def _strip_system(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Zep ignores a top-level ``"system"`` key in a session UPDATE (adding one keeps it)."""
    if metadata is None:
        return None
    return {k: v for k, v in metadata.items() if k != "system"}


class SQLiteStore:
    """Users, sessions and messages in one SQLite database, with Zep's semantics.

    ``path`` is a file path, :data:`MEMORY` for an in-memory database, or ``None`` for
    :func:`default_path`. The store is safe to share between threads, and several processes may
    open the same file. A file that is not a store this release can use (not a SQLite database,
    damaged, written by a newer release) raises :class:`~zep_memory_plugins.StoreFileError` and
    is left untouched.

    ``retention`` is how long soft-deleted sessions stay revivable before they are hard-deleted
    (a timedelta, ``"30d"``, ``"1h"``, ``"0"``, or seconds; ``None``: ``ZEP_MEMORY_RETENTION``,
    else one hour). See the module docstring for when that happens.
    """

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
        self._local = _ThreadState()
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
            self._lock = _Guard(self._conn, self._local)
            try:
                self._setup()
                # Reads get a connection of their own (read-only) for when the write connection
                # is busy, maybe waiting for another process; in memory there is only one.
                self._read_conn = self._conn if self.path == MEMORY else self._connect()
            except BaseException:
                self._conn.close()
                raise
            if self._read_conn is self._conn:
                self._read_lock = _ReadGuard(self._lock, self._lock, self._local)
            else:
                self._read_conn.execute("PRAGMA query_only = ON")
                self._read_lock = _ReadGuard(
                    self._lock, _Guard(self._read_conn, self._local), self._local
                )
        except sqlite3.Error as exc:
            raise self._error(exc, opening=True) from exc
        except OSError as exc:
            raise BackendError(f"cannot open the embedded store at {self.path}: {exc}") from exc
        self._closed = False
        self._ready = True

    def __repr__(self) -> str:
        return f"SQLiteStore(path={self.path!r})"

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
                if _classify(exc) != "busy" or time.monotonic() > deadline:
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
                scrub = scrub or (migration is _SECURE_DELETES and current >= 1)
                for statement in migration.statements:
                    cur.execute(statement)
                cur.execute(_CREATE_MIGRATIONS_TABLE)
                cur.execute(
                    f"INSERT INTO {_MIGRATIONS_TABLE} (version, name, applied_at, applied_by)"
                    " VALUES (?, ?, ?, ?)",
                    (migration.version, migration.name, _now(), _release()),
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
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_MIGRATIONS_TABLE,)
        ).fetchone():
            recorded = cur.execute(f"SELECT max(version) FROM {_MIGRATIONS_TABLE}").fetchone()[0]
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

    def no_wait(self) -> _NoWait:
        """A ``with`` block within which, on this thread, calls refuse to wait for a lock.

        A call that would wait (for another thread using the store, or for another process's
        write lock) raises :class:`WouldBlockError` at once, having changed nothing. Reads on a
        file store only wait in rare cases (WAL readers do not wait for writers); writes wait
        whenever another process is writing.
        """
        return _NoWait(self._local)

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

    def __enter__(self) -> SQLiteStore:
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
                _log_purge("expired", report)
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
        kind = _classify(exc)
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
            _log_purge("on request", report)
        return report

    def _purge(self, cur: sqlite3.Cursor, older_than: timedelta) -> PurgeReport:
        """Within ``cur``'s transaction: hard-delete data soft-deleted ``older_than`` ago."""
        cutoff = _cutoff(older_than)
        sessions = cur.execute(
            "SELECT s.id, s.session_id, s.user_id, s.deleted_at,"
            " (SELECT count(*) FROM messages m WHERE m.session = s.id)"
            " FROM sessions s WHERE s.deleted_at IS NOT NULL AND s.deleted_at <= ?",
            (cutoff,),
        ).fetchall()
        # Messages a delete left in sessions revived since (or deleted again later).
        leftovers = cur.execute(
            "SELECT s.id, s.session_id, s.user_id, max(m.deleted_at), count(*)"
            " FROM messages m JOIN sessions s ON s.id = m.session"
            " WHERE m.deleted_at IS NOT NULL AND m.deleted_at <= ?"
            " AND (s.deleted_at IS NULL OR s.deleted_at > ?) GROUP BY s.id",
            (cutoff, cutoff),
        ).fetchall()
        if sessions:
            cur.execute(
                "DELETE FROM sessions WHERE deleted_at IS NOT NULL AND deleted_at <= ?", (cutoff,)
            )
        if leftovers:
            cur.execute(
                "DELETE FROM messages WHERE deleted_at IS NOT NULL AND deleted_at <= ?", (cutoff,)
            )
        touched = [(row, True) for row in sessions] + [(row, False) for row in leftovers]
        touched.sort(key=lambda item: (item[0][3], item[0][0]))
        try:
            purged = tuple(
                PurgedSession(
                    session_id=row[1],
                    user_id=row[2],
                    deleted_at=datetime.fromisoformat(row[3]),
                    messages=row[4],
                    removed=removed,
                )
                for row, removed in touched
            )
        except ValueError as exc:  # a damaged time
            raise self._damaged(exc) from exc
        return PurgeReport(older_than=older_than, sessions=purged)

    def _free_expired(self, cur: sqlite3.Cursor) -> bool:
        """Purge what the retention has expired, now; whether anything went.

        For the paths where an expired session's id (or a message uuid) is wanted again.
        """
        report = self._purge(cur, self.retention)
        if report.sessions:
            self._expired.append(report)
            self._scrub = True
        return bool(report.sessions)

    # -- rows to models --------------------------------------------------------------------

    @staticmethod
    def _insert(
        cur: sqlite3.Cursor, table: str, rows: _Rows[Any], values: dict[str, Any], *, taken: str
    ) -> Any:
        """Insert a new user or session (a fresh uuid, created and updated now); return its row.

        :class:`AlreadyExistsError` with the message ``taken`` if its id is already stored.
        """
        now = _now()
        values = {**values, "uuid": str(_uuid.uuid4()), "created_at": now, "updated_at": now}
        try:
            cur.execute(
                f"INSERT INTO {table} ({', '.join(values)})"
                f" VALUES ({', '.join('?' * len(values))})",
                tuple(values.values()),
            )
        except sqlite3.IntegrityError:
            raise AlreadyExistsError(taken) from None
        return cur.execute(
            f"SELECT {rows.columns} FROM {table} WHERE id = ?", (cur.lastrowid,)
        ).fetchone()

    @staticmethod
    def _session_row(cur: sqlite3.Cursor, session_id: str, columns: str, *, live_only: bool) -> Any:
        """The session's ``columns``; :class:`NotFoundError` if there is none (live, if asked)."""
        live = " AND deleted_at IS NULL" if live_only else ""
        row = cur.execute(
            f"SELECT {columns} FROM sessions WHERE session_id = ?{live}", (session_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"session not found: {session_id}")
        return row

    def _build(self, build: Callable[[Sequence[Any]], _M], row: Sequence[Any]) -> _M:
        try:
            return build(row)
        except (ValueError, TypeError) as exc:  # a damaged row: bad JSON, uuid or time
            raise self._damaged(exc) from exc

    def _user(self, row: Sequence[Any]) -> User:
        return self._build(_USERS.build, row)

    def _session(self, row: Sequence[Any]) -> Session:
        return self._build(_SESSIONS.build, row)

    def _message(self, row: Sequence[Any]) -> Message:
        return self._build(_message_of, row)

    # -- users -----------------------------------------------------------------------------

    def add_user(self, request: CreateUserRequest) -> User:
        """Create a user; :class:`AlreadyExistsError` if the user id is taken."""
        with self._write() as cur:
            row = self._insert(
                cur,
                "users",
                _USERS,
                {
                    "user_id": request.user_id,
                    "email": request.email,
                    "first_name": request.first_name,
                    "last_name": request.last_name,
                    "metadata": dumps_metadata(request.metadata),
                },
                taken=f"user already exists with user_id: {request.user_id}",
            )
        return self._user(row)

    def get_user(self, user_id: str) -> User:
        """Return a user; :class:`NotFoundError` if there is none with this id."""
        with self._read_lock, self._errors():
            row = self._reader.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ?", (user_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"user not found: {user_id}")
        return self._user(row)

    def update_user(self, request: UpdateUserRequest) -> User:
        """Change the fields given; metadata is deep-merged; nothing given changes nothing."""
        with self._write() as cur:
            row = cur.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ?", (request.user_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"user not found: {request.user_id}")
            changes: dict[str, Any] = {
                name: value
                for name in ("email", "first_name", "last_name")
                if (value := getattr(request, name)) is not None
            }
            if request.metadata:
                changes["metadata"] = dumps_metadata(deep_merge(_loads(row[6]), request.metadata))
            if not changes:
                return self._user(row)
            changes["updated_at"] = _now()
            assignments = ", ".join(f"{name} = ?" for name in changes)
            cur.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*changes.values(), row[0]))
            row = cur.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (row[0],)
            ).fetchone()
        return self._user(row)

    def delete_user(self, user_id: str) -> None:
        """Delete a user and, for good, all of their sessions and messages.

        Nothing of them stays in the file: secure delete zeroes the freed space, and the
        write-ahead log is emptied right after.
        """
        with self._write() as cur:
            self._scrub = True
            cur.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
            if cur.rowcount == 0:
                raise NotFoundError(f"user not found: {user_id}")
        logger.debug("deleted user and all of their sessions")

    def list_users(self, limit: int | None = None, cursor: int = 0) -> list[User]:
        """Users with ``id > cursor``, in id order, at most ``limit`` (``None`` or 0: all)."""
        with self._read_lock, self._errors():
            rows = self._reader.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?",
                (cursor, limit or -1),
            ).fetchall()
        return [self._user(row) for row in rows]

    def count_users(self) -> int:
        """How many users the store holds."""
        with self._read_lock, self._errors():
            count: int = self._reader.execute("SELECT count(*) FROM users").fetchone()[0]
        return count

    def get_user_sessions(self, user_id: str) -> list[Session]:
        """The user's live sessions, oldest first; :class:`NotFoundError` for an unknown user."""
        with self._read() as cur:
            if cur.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
                raise NotFoundError(f"user not found: {user_id}")
            rows = cur.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions"
                " WHERE user_id = ? AND deleted_at IS NULL ORDER BY id",
                (user_id,),
            ).fetchall()
        return [self._session(row) for row in rows]

    # -- sessions --------------------------------------------------------------------------

    def add_session(self, session: Session) -> Session:
        """Create a session; its id must be new, even among soft-deleted sessions."""
        if session.session_id is None:
            raise ValueError("the store needs a session_id; the client fills one in")
        with self._write() as cur:
            if (
                session.user_id is not None
                and cur.execute(
                    "SELECT 1 FROM users WHERE user_id = ?", (session.user_id,)
                ).fetchone()
                is None
            ):
                raise NotFoundError(f"user does not exist with user_id: {session.user_id}")
            values = {
                "session_id": session.session_id,
                "user_id": session.user_id,
                "metadata": dumps_metadata(session.metadata),  # Zep keeps "system" here
            }
            taken = f"session already exists with session_id: {session.session_id}"
            try:
                row = self._insert(cur, "sessions", _SESSIONS, values, taken=taken)
            except AlreadyExistsError:
                # Held by a session soft-deleted past the retention? Then the id is free.
                if not self._free_expired(cur):
                    raise
                row = self._insert(cur, "sessions", _SESSIONS, values, taken=taken)
        return self._session(row)

    def get_session(self, session_id: str) -> Session:
        """Return a live session; :class:`NotFoundError` if unknown or soft-deleted."""
        with self._read_lock, self._errors():
            row = self._reader.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions"
                " WHERE session_id = ? AND deleted_at IS NULL",
                (session_id,),
            ).fetchone()
        if row is None:
            raise NotFoundError(f"session not found: {session_id}")
        return self._session(row)

    def update_session(self, session_id: str, metadata: Mapping[str, Any] | None) -> Session:
        """Deep-merge ``metadata`` into the session's and revive it if soft-deleted.

        An empty update changes nothing (and so does not revive a deleted session).
        """
        if not metadata:
            return self.get_session(session_id)
        with self._write() as cur:
            row = self._session_row(cur, session_id, "id, metadata, deleted_at", live_only=False)
            if row[2] is not None and self._free_expired(cur):
                # Soft-deleted past the retention: purged now, as if it had never been.
                row = cur.execute(
                    "SELECT id, metadata FROM sessions WHERE session_id = ?", (session_id,)
                ).fetchone()
            if row is not None:
                merged = deep_merge(_loads(row[1]), _strip_system(metadata) or {})
                cur.execute(
                    "UPDATE sessions SET metadata = ?, updated_at = ?, deleted_at = NULL"
                    " WHERE id = ?",
                    (dumps_metadata(merged), _now(), row[0]),
                )
                row = cur.execute(
                    f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (row[0],)
                ).fetchone()
        if row is None:  # outside the transaction: the purge it did stays done
            raise NotFoundError(f"session not found: {session_id}")
        return self._session(row)

    def delete_session(self, session_id: str) -> None:
        """Soft-delete a live session and all of its messages.

        The session keeps its owner and metadata (a write revives it until the retention runs
        out); its messages become tombstones at once: their role, content, metadata and time
        are wiped, only their uuids stay taken, as on Zep. Expired data goes in the same call.
        """
        now = _now()
        with self._write() as cur:
            self._scrub = True
            row = self._session_row(cur, session_id, "id", live_only=True)
            cur.execute("UPDATE sessions SET deleted_at = ? WHERE id = ?", (now, row[0]))
            cur.execute(
                "UPDATE messages SET role = '', role_type = '', content = '', metadata = NULL,"
                " created_at = ?, deleted_at = ? WHERE session = ? AND deleted_at IS NULL",
                (now, now, row[0]),
            )
            self._free_expired(cur)  # a retention of 0 purges this very session

    def list_sessions(self, limit: int | None = None, cursor: int = 0) -> list[Session]:
        """Live sessions with ``id > cursor``, in id order, at most ``limit`` (``None``/0: all)."""
        with self._read_lock, self._errors():
            rows = self._reader.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions"
                " WHERE id > ? AND deleted_at IS NULL ORDER BY id LIMIT ?",
                (cursor, limit or -1),
            ).fetchall()
        return [self._session(row) for row in rows]

    def count_sessions(self) -> int:
        """How many live sessions the store holds."""
        with self._read_lock, self._errors():
            count: int = self._reader.execute(
                "SELECT count(*) FROM sessions WHERE deleted_at IS NULL"
            ).fetchone()[0]
        return count

    # -- messages --------------------------------------------------------------------------

    def add_messages(self, session_id: str, messages: Sequence[Message]) -> list[Message]:
        """Append messages in one transaction, creating or reviving the session.

        Messages without a uuid get a fresh one, and without ``created_at`` the current time.
        If any uuid is already stored (or repeats within the batch), nothing is stored and
        :class:`AlreadyExistsError` names it.
        """
        if not messages:
            return []
        now = _now()
        stored: list[Message] = []
        rows: list[tuple[Any, ...]] = []
        for message in messages:
            uid = message.uuid or new_message_uuid()
            created = message.created_at.isoformat() if message.created_at else now
            rows.append(
                (
                    uid.bytes,
                    message.role,
                    message.role_type,
                    message.content,
                    dumps_metadata(message.metadata),
                    created,
                )
            )
            stored.append(
                build_unvalidated(
                    Message,
                    {
                        "role": message.role,
                        "role_type": message.role_type,
                        "content": message.content,
                        "metadata": message.metadata,
                        "uuid": uid,
                        "created_at": message.created_at or _parse_time(created),
                    },
                )
            )
        try:
            self._insert_messages(session_id, rows, now)
        except sqlite3.IntegrityError:
            # Rolled back: nothing of the batch is stored. A uuid left by a session deleted
            # past the retention is free: purge, and try once more.
            if not self._purge_expired_now():
                raise AlreadyExistsError(self._duplicate_uuid_message(rows)) from None
            try:
                self._insert_messages(session_id, rows, now)
            except sqlite3.IntegrityError:
                raise AlreadyExistsError(self._duplicate_uuid_message(rows)) from None
        return stored

    def _purge_expired_now(self) -> bool:
        """Purge what the retention has expired, in a transaction of its own; whether any."""
        with self._write(auto_purge=False) as cur:
            return self._free_expired(cur)

    def _insert_messages(self, session_id: str, rows: Sequence[tuple[Any, ...]], now: str) -> None:
        with self._write() as cur:
            row = cur.execute(
                "SELECT id, deleted_at FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                cur.execute(
                    "INSERT INTO sessions (session_id, uuid, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (session_id, str(_uuid.uuid4()), now, now),
                )
                session_pk = cur.lastrowid
            else:
                session_pk = row[0]
                if row[1] is not None:
                    if (
                        self._free_expired(cur)
                        and (
                            cur.execute("SELECT 1 FROM sessions WHERE id = ?", (session_pk,))
                        ).fetchone()
                        is None
                    ):
                        # Soft-deleted past the retention: purged; a new session takes its id.
                        cur.execute(
                            "INSERT INTO sessions (session_id, uuid, created_at, updated_at)"
                            " VALUES (?, ?, ?, ?)",
                            (session_id, str(_uuid.uuid4()), now, now),
                        )
                        session_pk = cur.lastrowid
                    else:
                        cur.execute(
                            "UPDATE sessions SET deleted_at = NULL, updated_at = ? WHERE id = ?",
                            (now, session_pk),
                        )
            cur.executemany(
                "INSERT INTO messages (session, uuid, role, role_type, content, metadata,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(session_pk, *r) for r in rows],
            )

    def _duplicate_uuid_message(self, rows: Sequence[tuple[Any, ...]]) -> str:
        seen: set[bytes] = set()
        for r in rows:
            if r[0] in seen:
                return f"message uuid {_uuid.UUID(bytes=r[0])} appears twice in the batch"
            seen.add(r[0])
        with self._lock, self._errors():
            for r in rows:
                if self._conn.execute("SELECT 1 FROM messages WHERE uuid = ?", (r[0],)).fetchone():
                    return f"message uuid {_uuid.UUID(bytes=r[0])} already exists"
        return "a message uuid already exists"

    def get_messages(self, session_id: str, lastn: int | None = None) -> list[Message]:
        """A live session's messages, oldest first: all, or the last ``lastn``.

        An unknown or soft-deleted session has no messages. Reading the last N costs the same
        whatever the session's length (an index walk from the newest message).
        """
        query = (
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE session ="
            " (SELECT id FROM sessions WHERE session_id = ? AND deleted_at IS NULL)"
            " AND deleted_at IS NULL ORDER BY id"
        )
        with self._read_lock, self._errors():
            if lastn is None:
                rows = self._reader.execute(query, (session_id,)).fetchall()
            else:
                rows = self._reader.execute(f"{query} DESC LIMIT ?", (session_id, lastn)).fetchall()
                rows.reverse()
        return [self._message(row) for row in rows]

    def get_messages_page(self, session_id: str, limit: int, page: int = 1) -> MessagePage:
        """Page ``page`` (1-based) of a live session's messages, ``limit`` per page."""
        with self._read() as cur:
            found = cur.execute(
                "SELECT id FROM sessions WHERE session_id = ? AND deleted_at IS NULL",
                (session_id,),
            ).fetchone()
            if found is None:
                return MessagePage.model_construct(messages=[], total_count=0, row_count=0)
            total = cur.execute(
                "SELECT count(*) FROM messages WHERE session = ? AND deleted_at IS NULL",
                (found[0],),
            ).fetchone()[0]
            rows = cur.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE session = ? AND deleted_at IS NULL"
                " ORDER BY id LIMIT ? OFFSET ?",
                (found[0], limit, (page - 1) * limit),
            ).fetchall()
        messages = [self._message(row) for row in rows]
        # As on the real Zep servers, a page past the end counts nothing.
        return MessagePage.model_construct(
            messages=messages, total_count=total if messages else 0, row_count=len(messages)
        )

    def update_message_metadata(
        self, session_id: str, message_uuid: _uuid.UUID, metadata: Mapping[str, Any]
    ) -> Message:
        """Deep-merge metadata into one live message of a live session."""
        with self._write() as cur:
            row = cur.execute(
                "SELECT m.id, m.metadata FROM messages m JOIN sessions s ON m.session = s.id"
                " WHERE s.session_id = ? AND m.uuid = ? AND m.deleted_at IS NULL"
                " AND s.deleted_at IS NULL",
                (session_id, message_uuid.bytes),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"message not found: {message_uuid}")
            if metadata:
                cur.execute(
                    "UPDATE messages SET metadata = ? WHERE id = ?",
                    (dumps_metadata(deep_merge(_loads(row[1]), metadata)), row[0]),
                )
            out = cur.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (row[0],)
            ).fetchone()
        return self._message(out)

    # -- for the Zep CE (/api/v2) test server ----------------------------------------------

    def purge_deleted_session(self, session_id: str) -> bool:
        """Remove a soft-deleted session and its messages for good; whether there was one.

        A live session is left alone. Zep Community Edition purges what it soft-deletes at
        once; its test server calls this right after :meth:`delete_session`.
        """
        with self._write() as cur:
            cur.execute(
                "DELETE FROM sessions WHERE session_id = ? AND deleted_at IS NOT NULL",
                (session_id,),
            )
            self._scrub = cur.rowcount > 0
            return self._scrub

    def replace_session_metadata(
        self, session_id: str, metadata: Mapping[str, Any] | None
    ) -> Session:
        """Set a live session's metadata outright (no merge); :class:`NotFoundError` if none."""
        with self._write() as cur:
            cur.execute(
                "UPDATE sessions SET metadata = ?, updated_at = ?"
                " WHERE session_id = ? AND deleted_at IS NULL",
                (dumps_metadata(metadata), _now(), session_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"session not found: {session_id}")
            row = cur.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return self._session(row)
