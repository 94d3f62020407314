"""The embedded store's schema: ordered migrations, each applied once, in its own transaction,
and recorded; files from release 0.1.0 get the later migrations once, their data intact, and
are rebuilt once so that nothing deleted before secure deletes stays in them; files from a newer
release are refused.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from zep_memory_plugins import BackendError, Message, StoreFileError, ZepMemoryClient
from zep_memory_plugins.store import MIGRATIONS, Migration, SQLiteStore

FIXTURE = Path(__file__).with_name("store_0_1_0.sql")


def build_release_0_1_0_store(path: Path) -> None:
    """Write a store file the way release 0.1.0 did (schema, version marker, rows)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(FIXTURE.read_text())
    conn.close()


def schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            " ORDER BY type, name"
        ).fetchall()
    finally:
        conn.close()
    return rows


def pragma_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()
    return version


def records(path: Path) -> list[tuple[int, str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT version, name, applied_at, applied_by FROM zep_memory_migrations"
            " ORDER BY version"
        ).fetchall()
    finally:
        conn.close()
    return rows


LATEST = MIGRATIONS[-1].version


class Release010(SQLiteStore):
    """The schema of release 0.1.0 only: migration 1."""

    migrations = MIGRATIONS[:1]


def test_migration_1_is_the_schema_release_0_1_0_wrote(tmp_path):
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    build_release_0_1_0_store(old)
    Release010(new).close()
    ours = [row for row in schema(new) if row[1] != "zep_memory_migrations"]
    assert ours == schema(old)
    assert pragma_version(new) == 1
    assert [(v, n) for v, n, _, _ in records(new)] == [(1, MIGRATIONS[0].name)]
    assert records(new)[0][3].startswith("zep-memory-plugins ")


def test_a_new_store_has_every_migration(tmp_path):
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    assert pragma_version(path) == LATEST
    assert [v for v, _, _, _ in records(path)] == [m.version for m in MIGRATIONS]
    names = {name for _, name, _ in schema(path)}
    assert {"sessions_deleted", "messages_deleted"} <= names


def raw_messages(path: Path) -> list[tuple[str, str, str, str | None]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT role, role_type, content, metadata FROM messages ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return rows


def test_a_store_from_release_0_1_0_gets_the_later_migrations_once(tmp_path):
    path = tmp_path / "old.db"
    build_release_0_1_0_store(path)
    assert b"Forget this one." in path.read_bytes()  # soft-deleted, still in the file

    with ZepMemoryClient(path=path) as client:
        user = client.user.get("jane")
        assert user.email == "jane@example.com"
        assert user.metadata == {"plan": "pro", "n": {"x": 1}}
        assert user.uuid == uuid.UUID("0b0f7e8e-54a4-4c39-9a57-0f3c0a6f6d0e")
        assert [s.session_id for s in client.user.get_sessions("jane")] == ["trip"]
        messages = client.memory.get_messages("trip")
        assert [(m.role_type, m.content, m.metadata) for m in messages] == [
            ("user", "Book me a train to Lyon.", None),
            ("assistant", "Done: 9:04, coach 12.", {"source": "sncf"}),
        ]
        assert messages[0].uuid == uuid.UUID("0193a000-0000-7000-8000-0000000000a1")
        assert client.memory.get_messages("old") == []  # soft-deleted stays deleted

    # Migration 1 was applied by 0.1.0, before records were kept: the later ones are recorded.
    assert pragma_version(path) == LATEST
    assert [v for v, _, _, _ in records(path)] == [m.version for m in MIGRATIONS[1:]]
    # The soft-deleted message is a tombstone now, and the file was rebuilt: it is gone.
    assert raw_messages(path)[2] == ("", "", "", None)
    assert b"Forget this one." not in path.read_bytes()

    # Opening an up-to-date file and reading writes nothing: same schema, same bytes.
    after_schema, after_bytes, after_records = schema(path), path.read_bytes(), records(path)
    with ZepMemoryClient(path=path) as client:
        assert len(client.memory.get_messages("trip")) == 2
    assert schema(path) == after_schema
    assert records(path) == after_records
    assert path.read_bytes() == after_bytes

    # And the new release writes to it as to any store.
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("trip", [Message(role="jane", content="Thanks!")])
        assert len(client.memory.get_messages("trip")) == 3
    assert schema(path) == after_schema


def test_reopening_applies_nothing(tmp_path):
    path = tmp_path / "m.db"
    SQLiteStore(path).close()
    first = records(path)
    for _ in range(3):
        SQLiteStore(path).close()
    assert records(path) == first


class WithIndex(SQLiteStore):
    """A later release: one more migration."""

    migrations = (
        *MIGRATIONS,
        Migration(
            LATEST + 1,
            "messages by role",
            (
                "CREATE INDEX messages_by_role ON messages(role)",
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)",
                "INSERT INTO notes (text) VALUES ('migration 2 ran')",
            ),
        ),
    )


def test_a_new_migration_is_applied_once_and_recorded(tmp_path):
    path = tmp_path / "old.db"
    build_release_0_1_0_store(path)
    WithIndex(path).close()
    assert pragma_version(path) == LATEST + 1
    # Migration 1 was applied by 0.1.0, before records were kept: the later ones are recorded.
    assert [(v, n) for v, n, _, _ in records(path)][-1] == (LATEST + 1, "messages by role")
    assert [v for v, _, _, _ in records(path)] == list(range(2, LATEST + 2))
    names = {name for _, name, _ in schema(path)}
    assert {"messages_by_role", "notes"} <= names
    first = records(path)
    store = WithIndex(path)
    assert [m.content for m in store.get_messages("trip")] == [
        "Book me a train to Lyon.",
        "Done: 9:04, coach 12.",
    ]
    store.close()
    assert records(path) == first
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT text FROM notes").fetchall() == [("migration 2 ran",)]
    conn.close()


def test_a_store_from_a_newer_release_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "newer.db"
    WithIndex(path).close()
    before = path.read_bytes()
    with pytest.raises(StoreFileError) as info:
        SQLiteStore(path)
    assert info.value.path == str(path)
    message = str(info.value)
    assert str(path) in message and "newer release" in message
    assert f"schema version {LATEST + 1}" in message and "Upgrade zep-memory-plugins" in message
    assert path.read_bytes() == before
    with pytest.raises(StoreFileError):
        ZepMemoryClient(path=path)


def test_an_unknown_recorded_migration_is_refused(tmp_path):
    """A record of a migration this release does not know, even with an old version marker."""
    path = tmp_path / "m.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO zep_memory_migrations VALUES (7, 'from the future', '2030-01-01', 'x')"
    )
    conn.commit()
    conn.close()
    with pytest.raises(StoreFileError, match="schema version 7"):
        SQLiteStore(path)


class Broken(SQLiteStore):
    """A migration whose second statement fails."""

    migrations = (
        *MIGRATIONS,
        Migration(LATEST + 1, "half good", ("CREATE TABLE half (x)", "CREATE TABLE half (x)")),
    )


def test_a_failing_migration_changes_nothing(tmp_path):
    path = tmp_path / "old.db"
    build_release_0_1_0_store(path)
    SQLiteStore(path).close()  # up to this release
    before, before_records = schema(path), records(path)
    with pytest.raises(BackendError) as info:
        Broken(path)
    assert not isinstance(info.value, StoreFileError)
    assert str(path) in str(info.value)
    assert schema(path) == before  # no half-made table
    assert records(path) == before_records
    assert pragma_version(path) == LATEST
    with ZepMemoryClient(path=path) as client:  # the release it came from still opens it
        assert len(client.memory.get_messages("trip")) == 2


OPENER = textwrap.dedent(
    """
    import sys
    from zep_memory_plugins.store import MIGRATIONS, Migration, SQLiteStore

    class Later(SQLiteStore):
        latest = MIGRATIONS[-1].version
        migrations = (
            *MIGRATIONS,
            Migration(latest + 1, "counter", ("CREATE TABLE counter (n INTEGER)",
                                              "INSERT INTO counter VALUES (1)")),
            Migration(latest + 2, "bump", ("UPDATE counter SET n = n + 1",)),
        )

    print("ready", flush=True)
    sys.stdin.readline()
    Later(sys.argv[1]).close()
    """
)


def test_processes_opening_a_new_file_together_apply_each_migration_once(tmp_path):
    for attempt in range(4):
        path = tmp_path / f"new-{attempt}.db"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPENER, str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        assert [v for v, _, _, _ in records(path)] == list(range(1, LATEST + 3))
        assert pragma_version(path) == LATEST + 2
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT n FROM counter").fetchall() == [(2,)]
        conn.close()
