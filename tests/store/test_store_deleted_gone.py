"""Deleted means gone: after a user delete, a session clear and a purge, none of the deleted data
is left in the store's file, its ``-wal`` or its ``-shm``, read as raw bytes.

Each test writes a marker into every field it deletes (message role, content and metadata keys
and values; the user's e-mail, names and metadata; session metadata), next to data that stays,
then scans every file of the store for the marker. Another process keeps the file open
throughout (it read it before the deletes), so that SQLite never gets to tidy up as the last
connection to close: what is clean is clean because of the store.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from zep_memory_plugins import (
    AlreadyExistsError,
    CreateUserRequest,
    Message,
    Session,
    ZepMemoryClient,
)
from zep_memory_plugins.store import SQLiteStore

MARKER = "zq-MARKER-7f3a"
MESSAGES = 200


def files_of(path: Path) -> list[Path]:
    """The store's file and whichever of its -wal and -shm exist."""
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def traces(path: Path, marker: str = MARKER) -> dict[str, int]:
    """How many times the marker is in each file of the store (as UTF-8 bytes)."""
    needle = marker.encode()
    return {p.name: p.read_bytes().count(needle) for p in files_of(path)}


def assert_gone(path: Path, marker: str = MARKER) -> None:
    found = {name: n for name, n in traces(path, marker).items() if n}
    assert not found, f"{marker!r} still in {found}"


def secret_messages(count: int = MESSAGES, big: bool = False) -> list[Message]:
    """Messages carrying the marker in role, content and metadata (a key and a value)."""
    filler = "x" * 9000 if big else ""  # overflow pages too
    return [
        Message(
            role=f"{MARKER}-role",
            role_type="user",
            content=f"{MARKER} said {i} {filler}",
            metadata={f"{MARKER}-key": f"{MARKER}-value", "i": i},
        )
        for i in range(count)
    ]


def plain_messages(count: int = MESSAGES) -> list[Message]:
    return [Message(role="keep", content=f"kept {i}", metadata={"i": i}) for i in range(count)]


HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1])
    print(conn.execute("SELECT count(*) FROM messages").fetchone()[0], flush=True)
    sys.stdin.readline()  # hold the file open, idle, until told
    print(conn.execute("SELECT count(*) FROM messages").fetchone()[0], flush=True)
    conn.close()
    """
)


@pytest.fixture
def holder() -> Iterator[object]:
    """Start another process that opens a store file, reads it, and keeps it open."""
    procs: list[subprocess.Popen[str]] = []

    def start(path: Path) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        int(proc.stdout.readline())  # it has read the file
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def release(proc: subprocess.Popen[str]) -> int:
    """Let the holder read once more and exit; the count of rows it saw."""
    out, err = proc.communicate("go\n", timeout=30)
    assert proc.returncode == 0, err
    return int(out.split()[-1])


def filled(path: Path, *, big: bool = False) -> ZepMemoryClient:
    """A client on a file store: a user whose everything carries the marker, and others."""
    client = ZepMemoryClient(path=path)
    client.user.add(
        CreateUserRequest(
            user_id="jane",
            email=f"{MARKER}@example.com",
            first_name=f"{MARKER}-first",
            last_name=f"{MARKER}-last",
            metadata={f"{MARKER}-k": {"nested": f"{MARKER}-v"}},
        )
    )
    client.user.add(CreateUserRequest(user_id="bob", email="bob@example.com"))
    for sid in ("jane-1", "jane-2"):
        client.memory.add_session(Session(session_id=sid, user_id="jane", metadata={"t": 1}))
        client.memory.add_messages(sid, secret_messages(big=big))
    client.memory.add_session(Session(session_id="bob-1", user_id="bob"))
    client.memory.add_messages("bob-1", plain_messages())
    assert sum(traces(path).values()) > 0  # the marker is there to be found
    return client


@pytest.mark.parametrize("big", [False, True], ids=["small", "overflow-pages"])
def test_user_delete_leaves_nothing_of_the_user(tmp_path: Path, holder, big: bool) -> None:
    path = tmp_path / "memory.sqlite3"
    client = filled(path, big=big)
    other = holder(path)
    client.user.delete("jane")
    assert_gone(path)  # at once, while the client is open
    client.memory.add_messages("bob-1", plain_messages(10))  # life goes on
    client.close()
    assert_gone(path)
    assert release(other) == MESSAGES + 10
    assert_gone(path)
    with ZepMemoryClient(path=path) as client:
        assert len(client.memory.get_messages("bob-1")) == MESSAGES + 10


@pytest.mark.parametrize("big", [False, True], ids=["small", "overflow-pages"])
def test_session_clear_leaves_no_message_behind(tmp_path: Path, holder, big: bool) -> None:
    path = tmp_path / "memory.sqlite3"
    with ZepMemoryClient(path=path) as client:
        client.memory.add_session(
            Session(session_id="trip", user_id=None, metadata={"topic": "kept"})
        )
        stored = client.memory.add_messages("trip", secret_messages(big=big))
        client.memory.add_messages("other", plain_messages())
    assert sum(traces(path).values()) > 0  # the marker is there to be found
    other = holder(path)
    client = ZepMemoryClient(path=path)
    client.memory.delete_memory("trip")
    assert_gone(path)
    client.close()
    assert_gone(path)
    release(other)
    assert_gone(path)

    # Today's semantics stay: the uuids stay taken, and a write revives the session with its
    # metadata but none of the old messages.
    with ZepMemoryClient(path=path) as client:
        with pytest.raises(AlreadyExistsError):
            reused = [Message(role="x", content="y", uuid=stored[0].uuid)]
            client.memory.add_messages("other", reused)
        client.memory.add_messages("trip", [Message(role="jane", content="back")])
        assert client.memory.get_session("trip").metadata == {"topic": "kept"}
        assert [m.content for m in client.memory.get_messages("trip")] == ["back"]
        assert len(client.memory.get_messages("other")) == MESSAGES


def test_purge_leaves_nothing_of_the_session(tmp_path: Path, holder) -> None:
    path = tmp_path / "memory.sqlite3"
    client = filled(path)
    client.memory.update_session(Session(session_id="jane-1", metadata={"m": f"{MARKER}-meta"}))
    client.memory.delete_memory("jane-1")
    client.memory.delete_memory("jane-2")
    client.user.update({"user_id": "jane", "email": "jane@example.com"})  # the user stays
    other = holder(path)
    # Only the session metadata (kept for a revival) is left until the purge.
    assert_gone(path, f"{MARKER}-value")
    assert sum(traces(path, f"{MARKER}-meta").values()) > 0  # there to be found
    report = client.memory.purge_deleted(older_than=0)
    assert sorted(report.session_ids) == ["jane-1", "jane-2"]
    assert_gone(path, f"{MARKER}-meta")
    client.close()
    assert_gone(path, f"{MARKER}-meta")
    release(other)
    assert_gone(path, f"{MARKER}-meta")


def test_secure_delete_is_on_for_the_writing_connection(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "m.db")
    try:
        assert store._conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    finally:
        store.close()


def test_closing_empties_the_write_ahead_log_while_another_process_has_it_open(
    tmp_path: Path, holder
) -> None:
    path = tmp_path / "memory.sqlite3"
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("s", plain_messages())
    other = holder(path)
    client = ZepMemoryClient(path=path)
    client.memory.add_messages("s", plain_messages(50))
    assert Path(f"{path}-wal").stat().st_size > 0
    client.close()
    assert Path(f"{path}-wal").stat().st_size == 0  # still there: the other process has it open
    assert release(other) == MESSAGES + 50


def test_a_file_written_without_secure_delete_is_cleaned_when_upgraded(tmp_path: Path) -> None:
    """Release 0.1.0 left deleted data in free pages; opening the file with this one clears it."""
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    # Back to how release 0.1.0 left files: schema 1, no secure delete, data deleted in place.
    conn.execute("DROP INDEX sessions_deleted")
    conn.execute("DROP INDEX messages_deleted")
    conn.execute("DELETE FROM zep_memory_migrations WHERE version > 1")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("PRAGMA secure_delete = OFF")
    conn.execute(
        "INSERT INTO sessions (session_id, uuid, created_at, updated_at)"
        " VALUES ('s', 'u', 't', 't')"
    )
    conn.executemany(
        "INSERT INTO messages (session, uuid, role, role_type, content, created_at)"
        " VALUES (1, ?, 'r', 'user', ?, 't')",
        [(i.to_bytes(16, "big"), f"{MARKER} {i}") for i in range(MESSAGES)],
    )
    conn.execute("DELETE FROM messages")
    conn.close()
    assert sum(traces(path).values()) > 0  # 0.1.0 left it in the file

    SQLiteStore(path).close()
    assert_gone(path)


READER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN")
    print(conn.execute("SELECT count(*) FROM messages").fetchone()[0], flush=True)
    sys.stdin.readline()  # inside a read transaction until told
    conn.execute("COMMIT")
    conn.close()
    """
)


def test_a_delete_never_waits_for_a_reader_and_closing_cleans_up_after_it(tmp_path: Path) -> None:
    """Another process in the middle of a read pins the log: the delete does not wait for it
    (the checkpoint copies what it can), and once it is done, closing empties the log."""
    path = tmp_path / "memory.sqlite3"
    client = filled(path)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None
        assert int(reader.stdout.readline()) == 3 * MESSAGES
        started = time.monotonic()
        client.user.delete("jane")
        assert time.monotonic() - started < 5  # not the 30 s busy timeout
        reader.communicate("done\n", timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    client.close()
    assert_gone(path)


def test_a_purge_is_logged_with_counts_only(tmp_path: Path, caplog) -> None:
    path = tmp_path / "memory.sqlite3"
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages(f"{MARKER}-session", secret_messages(5))
        client.memory.delete_memory(f"{MARKER}-session")
        with caplog.at_level(logging.DEBUG, logger="zep_memory_plugins"):
            client.memory.purge_deleted(0)
    assert "purged on request soft-deleted data: 1 sessions, 5 messages" in caplog.text
    assert MARKER not in caplog.text
