"""Files that are not a usable store: the library's typed error, and the file left as it was."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from zep_memory_plugins import (
    CreateUserRequest,
    Message,
    StoreFileError,
    ZepMemoryClient,
    ZepMemoryError,
)
from zep_memory_plugins.store import SQLiteStore

PAGE = 4096


def real_store(path: Path) -> bytes:
    """A store with 1,000 messages of 500 characters (about 160 pages); its bytes."""
    with ZepMemoryClient(path=path) as client:
        for _ in range(20):
            client.memory.add_messages(
                "s", [Message(role="user", content="x" * 500) for _ in range(50)]
            )
    return path.read_bytes()


def check_refused(path: Path, error: BaseException) -> None:
    assert isinstance(error, StoreFileError) and isinstance(error, ZepMemoryError)
    assert not isinstance(error, sqlite3.Error)
    assert error.path == str(path)
    assert str(path) in str(error)
    assert "move it aside" in str(error)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(bytes(range(256)) * 64, id="binary"),
        pytest.param(b"hello, this is a text file\n" * 300, id="text"),
        pytest.param(b"SQLite format 3\x00" + b"\x07" * 100, id="header-only"),
    ],
)
def test_opening_a_file_that_is_not_a_database(tmp_path, content):
    path = tmp_path / "memory.sqlite3"
    path.write_bytes(content)
    with pytest.raises(StoreFileError) as info:
        ZepMemoryClient(path=path)
    check_refused(path, info.value)
    assert path.read_bytes() == content


@pytest.mark.parametrize("keep", [50, 100, PAGE + 10], ids=["50B", "100B", "1page+"])
def test_opening_a_truncated_store(tmp_path, keep):
    good = real_store(tmp_path / "good.db")
    path = tmp_path / "cut.db"
    path.write_bytes(good[:keep])
    with pytest.raises(StoreFileError) as info, ZepMemoryClient(path=path) as client:
        client.memory.get_messages("s")
    check_refused(path, info.value)
    assert path.read_bytes() == good[:keep]


def damaged_copy(tmp_path: Path) -> tuple[Path, bytes]:
    """A store whose last pages (the newest messages and their index) are overwritten."""
    good = real_store(tmp_path / "good.db")
    bad = bytearray(good)
    bad[len(good) - 5 * PAGE : len(good) - 3 * PAGE] = b"\xa5" * (2 * PAGE)
    path = tmp_path / "damaged.db"
    path.write_bytes(bytes(bad))
    return path, bytes(bad)


def test_reading_a_damaged_store(tmp_path):
    path, content = damaged_copy(tmp_path)
    store = SQLiteStore(path)  # the header is fine: the damage shows when the pages are read
    with pytest.raises(StoreFileError) as info:
        store.get_messages("s")
    check_refused(path, info.value)
    with pytest.raises(StoreFileError):
        store.get_messages_page("s", limit=1000)
    store.close()
    assert path.read_bytes() == content


def test_writing_to_a_damaged_store_stores_nothing_and_changes_nothing(tmp_path):
    path, content = damaged_copy(tmp_path)
    with ZepMemoryClient(path=path) as client:
        with pytest.raises(StoreFileError) as info:
            client.memory.add_messages("s", [Message(role="user", content="y")])
        check_refused(path, info.value)
    assert path.read_bytes() == content


def test_async_calls_on_a_damaged_store(tmp_path):
    path, content = damaged_copy(tmp_path)

    async def main() -> None:
        with ZepMemoryClient(path=path) as client:
            with pytest.raises(StoreFileError):
                await client.memory.aget_messages("s")
            with pytest.raises(StoreFileError):
                await client.memory.aadd_messages("s", [Message(role="user", content="y")])

    asyncio.run(main())
    assert path.read_bytes() == content


def test_an_empty_file_is_a_new_store(tmp_path):
    """Zero bytes is what a new SQLite database looks like: it becomes an empty store."""
    path = tmp_path / "empty.db"
    path.touch()
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("s", [Message(role="user", content="hi")])
        assert [m.content for m in client.memory.get_messages("s")] == ["hi"]


def test_a_database_of_another_application_is_refused(tmp_path):
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreFileError) as info:
        ZepMemoryClient(path=path)
    assert info.value.path == str(path)
    assert "another application" in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before


def test_a_damaged_row_is_a_store_file_error(tmp_path):
    """Damage inside a row (here the JSON of a user's metadata) is reported as such."""
    path = tmp_path / "m.db"
    with ZepMemoryClient(path=path) as client:
        client.user.add(CreateUserRequest(user_id="jane", metadata={"plan": "pro"}))
    content = path.read_bytes()
    at = content.index(b'{"plan":"pro"}')
    path.write_bytes(content[:at] + b"[[" + content[at + 2 :])
    with ZepMemoryClient(path=path) as client, pytest.raises(StoreFileError) as info:
        client.user.get("jane")
    check_refused(path, info.value)


def test_sqlite_errors_are_told_apart_by_result_code_and_by_message_without_one(tmp_path):
    """By SQLite's result code (Python 3.11+), by SQLite's fixed messages where Python gives no
    code (3.10): a real error of each kind, and the same text without a code."""
    from zep_memory_plugins.store._locks import classify as _classify

    not_a_db = tmp_path / "text.db"
    not_a_db.write_text("plain text " * 500)
    conn = sqlite3.connect(not_a_db)
    with pytest.raises(sqlite3.DatabaseError) as damaged:
        conn.execute("SELECT * FROM sqlite_master")
    conn.close()
    other = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as unknown:
        other.execute("SELECT * FROM no_such_table")
    other.close()

    assert _classify(damaged.value) == "damaged"
    assert _classify(unknown.value) == "other"
    assert _classify(sqlite3.DatabaseError(str(damaged.value))) == "damaged"
    assert _classify(sqlite3.DatabaseError("database disk image is malformed")) == "damaged"
    assert _classify(sqlite3.OperationalError("database is locked")) == "busy"
    assert _classify(sqlite3.OperationalError(str(unknown.value))) == "other"
