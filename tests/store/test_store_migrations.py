"""The embedded store's schema: ordered migrations, each applied once, in its own transaction,
and recorded; files from the previous release open unchanged; files from a newer one are refused.
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


def test_migration_1_is_the_schema_release_0_1_0_wrote(tmp_path):
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    build_release_0_1_0_store(old)
    SQLiteStore(new).close()
    ours = [row for row in schema(new) if row[1] != "zep_memory_migrations"]
    assert ours == schema(old)
    assert pragma_version(new) == 1
    assert [(v, n) for v, n, _, _ in records(new)] == [(1, MIGRATIONS[0].name)]
    assert records(new)[0][3].startswith("zep-memory-plugins ")


def test_a_store_from_release_0_1_0_opens_unchanged(tmp_path):
    path = tmp_path / "old.db"
    build_release_0_1_0_store(path)
    before_schema, before_bytes = schema(path), path.read_bytes()

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

    # Opening and reading wrote nothing: same schema, no record table, same bytes.
    assert schema(path) == before_schema
    assert pragma_version(path) == 1
    assert path.read_bytes() == before_bytes

    # And the new release writes to it as to any store.
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("trip", [Message(role="jane", content="Thanks!")])
        assert len(client.memory.get_messages("trip")) == 3
    assert schema(path) == before_schema


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
            2,
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
    assert pragma_version(path) == 2
    # Migration 1 was applied by 0.1.0, before records were kept: only 2 is recorded.
    assert [(v, n) for v, n, _, _ in records(path)] == [(2, "messages by role")]
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
    assert "schema version 2" in message and "Upgrade zep-memory-plugins" in message
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
        Migration(2, "half good", ("CREATE TABLE half (x)", "CREATE TABLE half (x)")),
    )


def test_a_failing_migration_changes_nothing(tmp_path):
    path = tmp_path / "old.db"
    build_release_0_1_0_store(path)
    before = schema(path)
    with pytest.raises(BackendError) as info:
        Broken(path)
    assert not isinstance(info.value, StoreFileError)
    assert str(path) in str(info.value)
    assert schema(path) == before  # no half-made table, no record table
    assert pragma_version(path) == 1
    with ZepMemoryClient(path=path) as client:  # the release it came from still opens it
        assert len(client.memory.get_messages("trip")) == 2


OPENER = textwrap.dedent(
    """
    import sys
    from zep_memory_plugins.store import MIGRATIONS, Migration, SQLiteStore

    class Later(SQLiteStore):
        migrations = (
            *MIGRATIONS,
            Migration(2, "counter", ("CREATE TABLE counter (n INTEGER)",
                                     "INSERT INTO counter VALUES (1)")),
            Migration(3, "bump", ("UPDATE counter SET n = n + 1",)),
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
        assert [v for v, _, _, _ in records(path)] == [1, 2, 3]
        assert pragma_version(path) == 3
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT n FROM counter").fetchall() == [(2,)]
        conn.close()
