-- A store file as zep-memory-plugins 0.1.0 leaves it: that release's schema script and version
-- marker verbatim (it ran each statement in one transaction, on a file switched to WAL), then a
-- few rows in the form its code writes them (uuids as text for users and sessions, as 16 bytes
-- for messages; ISO 8601 times; metadata as JSON text).
-- Never edit this file to follow a newer schema: it stands for files already on disk.
CREATE TABLE IF NOT EXISTS users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL UNIQUE,
    uuid        TEXT NOT NULL,
    email       TEXT,
    first_name  TEXT,
    last_name   TEXT,
    metadata    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL UNIQUE,
    user_id     TEXT REFERENCES users(user_id) ON DELETE CASCADE,
    uuid        TEXT NOT NULL,
    metadata    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions(user_id, id);
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session     INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    uuid        BLOB NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    role_type   TEXT NOT NULL,
    content     TEXT NOT NULL,
    metadata    TEXT,
    created_at  TEXT NOT NULL,
    deleted_at  TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages(session, id);
PRAGMA user_version = 1;

INSERT INTO users (user_id, uuid, email, first_name, last_name, metadata, created_at, updated_at)
VALUES ('jane', '0b0f7e8e-54a4-4c39-9a57-0f3c0a6f6d0e', 'jane@example.com', 'Jane', NULL,
        '{"plan":"pro","n":{"x":1}}', '2026-11-20T10:00:00+00:00', '2026-11-20T10:00:00+00:00');
INSERT INTO sessions (session_id, user_id, uuid, metadata, created_at, updated_at, deleted_at)
VALUES ('trip', 'jane', '9a1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b', '{"topic":"travel"}',
        '2026-11-20T10:00:01+00:00', '2026-11-20T10:00:01+00:00', NULL);
INSERT INTO sessions (session_id, user_id, uuid, metadata, created_at, updated_at, deleted_at)
VALUES ('old', 'jane', '1b2c3d4e-5f60-4718-9a0b-1c2d3e4f5a6b', NULL,
        '2026-11-20T10:00:02+00:00', '2026-11-20T10:00:02+00:00', '2026-11-21T09:00:00+00:00');
INSERT INTO messages (session, uuid, role, role_type, content, metadata, created_at, deleted_at)
VALUES (1, X'0193a0000000700080000000000000a1', 'jane', 'user', 'Book me a train to Lyon.',
        NULL, '2026-11-20T10:00:03+00:00', NULL);
INSERT INTO messages (session, uuid, role, role_type, content, metadata, created_at, deleted_at)
VALUES (1, X'0193a0000000700080000000000000a2', 'ai', 'assistant', 'Done: 9:04, coach 12.',
        '{"source":"sncf"}', '2026-11-20T10:00:04+00:00', NULL);
INSERT INTO messages (session, uuid, role, role_type, content, metadata, created_at, deleted_at)
VALUES (2, X'0193a0000000700080000000000000a3', 'jane', 'user', 'Forget this one.',
        NULL, '2026-11-20T10:00:05+00:00', '2026-11-21T09:00:00+00:00');
