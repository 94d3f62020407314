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

import functools
import logging
import sqlite3
import uuid as _uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from .._errors import AlreadyExistsError, NotFoundError
from .._models import (
    CreateUserRequest,
    Message,
    MessagePage,
    Session,
    UpdateUserRequest,
    User,
    building_many,
    deep_merge,
    dumps_metadata,
    message_unvalidated,
    new_message_uuids,
)
from ._base import DEFAULT_PATH_ENV, MEMORY, StoreBase, default_path
from ._locks import BUSY_TIMEOUT_MS, WouldBlockError
from ._rows import SESSIONS, USERS, Rows, loads, message_of, messages_of, now_text, parse_time
from ._schema import MESSAGE_COLUMNS, MIGRATIONS, SESSION_COLUMNS, USER_COLUMNS, Migration

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


#: Most messages one INSERT statement carries (seven parameters each, well within SQLite's
#: smallest limit of 999 parameters a statement).
_ROWS_PER_INSERT = 100


@functools.lru_cache(maxsize=_ROWS_PER_INSERT)
def _insert_messages_sql(count: int) -> str:
    """The INSERT of ``count`` messages, stored in the order given (ids ascending)."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * count)
    return (
        "INSERT INTO messages (session, uuid, role, role_type, content, metadata, created_at)"
        f" VALUES {values}"
    )


def _strip_system(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Zep ignores a top-level ``"system"`` key in a session UPDATE (adding one keeps it)."""
    if metadata is None:
        return None
    return {k: v for k, v in metadata.items() if k != "system"}


class SQLiteStore(StoreBase):
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

    # -- rows to models --------------------------------------------------------------------

    @staticmethod
    def _insert(
        cur: sqlite3.Cursor, table: str, rows: Rows[Any], values: dict[str, Any], *, taken: str
    ) -> Any:
        """Insert a new user or session (a fresh uuid, created and updated now); return its row.

        :class:`AlreadyExistsError` with the message ``taken`` if its id is already stored.
        """
        now = now_text()
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
        return self._build(USERS.build, row)

    def _session(self, row: Sequence[Any]) -> Session:
        return self._build(SESSIONS.build, row)

    def _message(self, row: Sequence[Any]) -> Message:
        return self._build(message_of, row)

    def _messages(self, rows: list[Any]) -> list[Message]:
        try:
            return messages_of(rows)
        except (ValueError, TypeError) as exc:  # a damaged row: bad JSON, uuid or time
            raise self._damaged(exc) from exc

    # -- users -----------------------------------------------------------------------------

    def add_user(self, request: CreateUserRequest) -> User:
        """Create a user; :class:`AlreadyExistsError` if the user id is taken."""
        with self._write() as cur:
            row = self._insert(
                cur,
                "users",
                USERS,
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
                f"SELECT {USER_COLUMNS} FROM users WHERE user_id = ?", (user_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"user not found: {user_id}")
        return self._user(row)

    def update_user(self, request: UpdateUserRequest) -> User:
        """Change the fields given; metadata is deep-merged; nothing given changes nothing."""
        with self._write() as cur:
            row = cur.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE user_id = ?", (request.user_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"user not found: {request.user_id}")
            changes: dict[str, Any] = {
                name: value
                for name in ("email", "first_name", "last_name")
                if (value := getattr(request, name)) is not None
            }
            if request.metadata:
                changes["metadata"] = dumps_metadata(deep_merge(loads(row[6]), request.metadata))
            if not changes:
                return self._user(row)
            changes["updated_at"] = now_text()
            assignments = ", ".join(f"{name} = ?" for name in changes)
            cur.execute(f"UPDATE users SET {assignments} WHERE id = ?", (*changes.values(), row[0]))
            row = cur.execute(
                f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (row[0],)
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
                f"SELECT {USER_COLUMNS} FROM users WHERE id > ? ORDER BY id LIMIT ?",
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
                f"SELECT {SESSION_COLUMNS} FROM sessions"
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
                row = self._insert(cur, "sessions", SESSIONS, values, taken=taken)
            except AlreadyExistsError:
                # Held by a session soft-deleted past the retention? Then the id is free.
                if not self._free_expired(cur):
                    raise
                row = self._insert(cur, "sessions", SESSIONS, values, taken=taken)
        return self._session(row)

    def get_session(self, session_id: str) -> Session:
        """Return a live session; :class:`NotFoundError` if unknown or soft-deleted."""
        with self._read_lock, self._errors():
            row = self._reader.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions"
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
                merged = deep_merge(loads(row[1]), _strip_system(metadata) or {})
                cur.execute(
                    "UPDATE sessions SET metadata = ?, updated_at = ?, deleted_at = NULL"
                    " WHERE id = ?",
                    (dumps_metadata(merged), now_text(), row[0]),
                )
                row = cur.execute(
                    f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (row[0],)
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
        now = now_text()
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
                f"SELECT {SESSION_COLUMNS} FROM sessions"
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
        now = now_text()
        at_now = parse_time(now)
        fresh = iter(new_message_uuids(len(messages)))
        uids: list[bytes] = []
        params: list[Any] = []  # seven per message, the first its session's id (filled in later)
        stored: list[Message] = []
        for message in messages:
            uid = message.uuid or next(fresh)
            given = message.created_at
            metadata = message.metadata
            raw = uid.bytes
            uids.append(raw)
            params += (
                None,
                raw,
                message.role,
                message.role_type,
                message.content,
                None if metadata is None else dumps_metadata(metadata),
                now if given is None else given.isoformat(),
            )
            stored.append(
                message_unvalidated(
                    message.role,
                    message.role_type,
                    message.content,
                    metadata,
                    uid,
                    at_now if given is None else given,
                )
            )
        try:
            self._insert_messages(session_id, params, now)
        except sqlite3.IntegrityError:
            # Rolled back: nothing of the batch is stored. A uuid left by a session deleted
            # past the retention is free: purge, and try once more.
            if not self._purge_expired_now():
                raise AlreadyExistsError(self._duplicate_uuid_message(uids)) from None
            try:
                self._insert_messages(session_id, params, now)
            except sqlite3.IntegrityError:
                raise AlreadyExistsError(self._duplicate_uuid_message(uids)) from None
        return stored

    def _purge_expired_now(self) -> bool:
        """Purge what the retention has expired, in a transaction of its own; whether any."""
        with self._write(auto_purge=False) as cur:
            return self._free_expired(cur)

    def _insert_messages(self, session_id: str, params: list[Any], now: str) -> None:
        with self._write() as cur:
            row = cur.execute(
                "SELECT id, deleted_at FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is not None and row[1] is not None:  # soft-deleted
                if (
                    self._free_expired(cur)
                    and cur.execute("SELECT 1 FROM sessions WHERE id = ?", (row[0],)).fetchone()
                    is None
                ):
                    row = None  # past the retention: purged; a new session takes its id
                else:
                    cur.execute(
                        "UPDATE sessions SET deleted_at = NULL, updated_at = ? WHERE id = ?",
                        (now, row[0]),
                    )
            if row is None:
                cur.execute(
                    "INSERT INTO sessions (session_id, uuid, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (session_id, str(_uuid.uuid4()), now, now),
                )
                session_pk = cur.lastrowid
            else:
                session_pk = row[0]
            params[::7] = [session_pk] * (len(params) // 7)
            # One statement per 100 messages: a third cheaper than a statement per message.
            step = 7 * _ROWS_PER_INSERT
            for start in range(0, len(params), step):
                chunk = params[start : start + step]
                cur.execute(_insert_messages_sql(len(chunk) // 7), chunk)

    def _duplicate_uuid_message(self, uids: Sequence[bytes]) -> str:
        seen: set[bytes] = set()
        for raw in uids:
            if raw in seen:
                return f"message uuid {_uuid.UUID(bytes=raw)} appears twice in the batch"
            seen.add(raw)
        with self._lock, self._errors():
            for raw in uids:
                if self._conn.execute("SELECT 1 FROM messages WHERE uuid = ?", (raw,)).fetchone():
                    return f"message uuid {_uuid.UUID(bytes=raw)} already exists"
        return "a message uuid already exists"

    def get_messages(self, session_id: str, lastn: int | None = None) -> list[Message]:
        """A live session's messages, oldest first: all, or the last ``lastn``.

        An unknown or soft-deleted session has no messages. Reading the last N costs the same
        whatever the session's length (an index walk from the newest message).
        """
        query = (
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session ="
            " (SELECT id FROM sessions WHERE session_id = ? AND deleted_at IS NULL)"
            " AND deleted_at IS NULL ORDER BY id"
        )
        if lastn is not None:
            with self._read_lock, self._errors():
                rows = self._reader.execute(f"{query} DESC LIMIT ?", (session_id, lastn)).fetchall()
            rows.reverse()
            return self._messages(rows)
        with building_many:  # a whole history: see building_many
            with self._read_lock, self._errors():
                rows = self._reader.execute(query, (session_id,)).fetchall()
            return self._messages(rows)

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
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session = ? AND deleted_at IS NULL"
                " ORDER BY id LIMIT ? OFFSET ?",
                (found[0], limit, (page - 1) * limit),
            ).fetchall()
        messages = self._messages(rows)
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
                    (dumps_metadata(deep_merge(loads(row[1]), metadata)), row[0]),
                )
            out = cur.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (row[0],)
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
                (dumps_metadata(metadata), now_text(), session_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"session not found: {session_id}")
            row = cur.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
        return self._session(row)
