"""The embedded store's schema: its migrations, and the columns the store reads back."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MIGRATIONS", "Migration"]


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
TOMBSTONE_UPDATE = (
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
            TOMBSTONE_UPDATE + " WHERE deleted_at IS NOT NULL",
        ),
    ),
)
#: The migration after which a file from before secure deletes is rebuilt once (``VACUUM``).
SECURE_DELETES = MIGRATIONS[1]

#: Where each applied migration is recorded. Files written before migrations were recorded
#: (release 0.1.0: ``user_version`` 1, no such table) get the table with their next migration.
MIGRATIONS_TABLE = "zep_memory_migrations"
CREATE_MIGRATIONS_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL,"
    " applied_by TEXT NOT NULL)"
)

# The columns read back, in the order the row builders of ``_rows`` expect.
USER_COLUMNS = "id, user_id, uuid, email, first_name, last_name, metadata, created_at, updated_at"
SESSION_COLUMNS = "id, session_id, user_id, uuid, metadata, created_at, updated_at, deleted_at"
MESSAGE_COLUMNS = "uuid, role, role_type, content, metadata, created_at"
