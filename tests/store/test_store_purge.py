"""Purge and retention on the embedded store: soft-deleted sessions can be revived until the
retention runs out, then they are hard-deleted, automatically or on request, and their ids are
free again.

Time passing is played by moving a soft delete's ``deleted_at`` back in the file (another SQLite
connection, as another process would write), never by patching the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from store_helpers import backdate

from zep_memory_plugins import (
    DEFAULT_RETENTION,
    AlreadyExistsError,
    CreateUserRequest,
    InvalidInputError,
    Message,
    NotFoundError,
    PurgeReport,
    Session,
    ZepMemoryClient,
)
from zep_memory_plugins.store import SQLiteStore


def rows(path: Path) -> tuple[int, int]:
    """(sessions, messages) in the file, soft-deleted ones included."""
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("SELECT count(*) FROM sessions").fetchone()[0],
            conn.execute("SELECT count(*) FROM messages").fetchone()[0],
        )
    finally:
        conn.close()


def msgs(n: int, tag: str = "m") -> list[Message]:
    return [Message(role="jane", role_type="user", content=f"{tag} {i}") for i in range(n)]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "memory.sqlite3"


def deleted_session(path: Path, session_id: str = "trip", n: int = 3) -> list[Message]:
    """A session of jane's with metadata and ``n`` messages, soft-deleted; its messages."""
    with ZepMemoryClient(path=path) as client:
        with contextlib.suppress(AlreadyExistsError):
            client.user.add(CreateUserRequest(user_id="jane"))
        client.memory.add_session(
            Session(session_id=session_id, user_id="jane", metadata={"topic": "lyon"})
        )
        stored = client.memory.add_messages(session_id, msgs(n))
        client.memory.delete_memory(session_id)
    return stored


def test_default_retention_is_one_hour(path: Path) -> None:
    assert timedelta(hours=1) == DEFAULT_RETENTION
    with ZepMemoryClient(path=path) as client:
        assert client.backend.store.retention == DEFAULT_RETENTION  # type: ignore[attr-defined]


def test_before_the_retention_runs_out_a_session_is_revived_as_now(path: Path) -> None:
    deleted_session(path)
    backdate(path, "trip", timedelta(minutes=59))
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("other", msgs(1))  # a write: the automatic look
        with pytest.raises(AlreadyExistsError):
            client.memory.add_session(Session(session_id="trip"))
        revived = client.memory.update_session(Session(session_id="trip", metadata={"n": 1}))
        assert revived.user_id == "jane"
        assert revived.metadata == {"topic": "lyon", "n": 1}
        assert client.memory.get_messages("trip") == []
        assert client.memory.purge_deleted() == PurgeReport(older_than=DEFAULT_RETENTION)


def test_the_first_write_after_opening_purges_what_expired(path: Path) -> None:
    deleted_session(path, "old", n=5)
    deleted_session(path, "recent", n=2)
    backdate(path, "old", timedelta(hours=2))
    with ZepMemoryClient(path=path) as client:
        assert rows(path) == (2, 7)  # opening and reading write nothing
        client.memory.get_messages("old")
        assert rows(path) == (2, 7)
        client.memory.add_messages("new", msgs(1))
        assert rows(path) == (2, 3)  # "old" and its 5 messages are gone; "recent" stays
        # Its id is free: a new session, nothing of the old one.
        fresh = client.memory.add_session(Session(session_id="old"))
        assert fresh.user_id is None and fresh.metadata is None
        assert client.memory.get_messages("old") == []


def test_every_delete_purges_what_expired(path: Path) -> None:
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("a", msgs(2))
        client.memory.add_messages("b", msgs(2))
        client.memory.delete_memory("a")
        backdate(path, "a", timedelta(days=1))
        assert rows(path) == (2, 4)
        client.memory.delete_memory("b")
        assert rows(path) == (1, 2)  # "a" went with the delete of "b"


def test_an_expired_session_id_is_free_at_once_whatever_the_timer(path: Path) -> None:
    stored = deleted_session(path, "trip")
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("other", msgs(1))  # the automatic look ran: not due again
        backdate(path, "trip", timedelta(hours=2))
        made = client.memory.add_session(Session(session_id="trip", metadata={"new": True}))
        assert made.user_id is None and made.metadata == {"new": True}
        # And the old messages' uuids are free for new messages.
        again = [Message(role="x", content="again", uuid=stored[0].uuid)]
        assert client.memory.add_messages("trip", again)[0].uuid == stored[0].uuid


def test_writing_to_an_expired_session_creates_a_new_one(path: Path) -> None:
    deleted_session(path, "trip")
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("other", msgs(1))
        backdate(path, "trip", timedelta(hours=2))
        client.memory.add_messages("trip", msgs(1, "new"))
        session = client.memory.get_session("trip")
        assert session.user_id is None and session.metadata is None  # not a revival
        assert [m.content for m in client.memory.get_messages("trip")] == ["new 0"]
        assert "trip" not in [s.session_id for s in client.user.get_sessions("jane")]


def test_updating_an_expired_session_is_not_found(path: Path) -> None:
    deleted_session(path, "trip")
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("other", msgs(1))
        backdate(path, "trip", timedelta(hours=2))
        with pytest.raises(NotFoundError):
            client.memory.update_session(Session(session_id="trip", metadata={"a": 1}))
        assert rows(path) == (1, 1)  # and the purge that found it expired stays done


def test_an_expired_uuid_is_free_for_a_message_whatever_the_timer(path: Path) -> None:
    stored = deleted_session(path, "trip")
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("other", msgs(1))
        backdate(path, "trip", timedelta(hours=2))
        reused = [Message(role="x", content="y", uuid=m.uuid) for m in stored]
        assert len(client.memory.add_messages("other", reused)) == 3
        # A uuid that is really taken is still refused, naming it.
        with pytest.raises(AlreadyExistsError, match=str(stored[0].uuid)):
            client.memory.add_messages("other", reused[:1])


def test_purge_on_request_reports_sessions_and_message_counts(path: Path) -> None:
    deleted_session(path, "a", n=4)
    deleted_session(path, "b", n=2)
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("live", msgs(3))
        client.memory.add_messages("lone", msgs(1))
        client.memory.delete_memory("lone")
        report = client.memory.purge_deleted(older_than="0")
    assert report.older_than == timedelta(0)
    assert [(s.session_id, s.user_id, s.messages, s.removed) for s in report.sessions] == [
        ("a", "jane", 4, True),
        ("b", "jane", 2, True),
        ("lone", None, 1, True),
    ]
    assert report.session_ids == ["a", "b", "lone"]
    assert report.message_count == 7
    assert all(s.deleted_at.tzinfo is not None for s in report.sessions)
    as_dict = report.as_dict()
    assert as_dict["older_than"] == "0"
    assert as_dict["sessions_removed"] == 3 and as_dict["messages_removed"] == 7
    assert rows(path) == (1, 3)


def test_purge_older_than_leaves_what_is_younger(path: Path) -> None:
    deleted_session(path, "old")
    deleted_session(path, "young")
    backdate(path, "old", timedelta(days=40))
    backdate(path, "young", timedelta(days=2))
    with ZepMemoryClient(path=path, retention="90d") as client:
        assert client.memory.purge_deleted("30d").session_ids == ["old"]
        assert client.memory.purge_deleted(timedelta(days=30)).session_ids == []
        assert client.memory.purge_deleted(86_400).session_ids == ["young"]


def test_a_revived_session_keeps_its_new_messages_and_loses_the_old_ones_for_good(
    path: Path,
) -> None:
    stored = deleted_session(path, "trip", n=3)
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("trip", msgs(2, "new"))  # revived
        with pytest.raises(AlreadyExistsError):  # the old uuids are still taken
            client.memory.add_messages("x", [Message(role="x", content="y", uuid=stored[0].uuid)])
        report = client.memory.purge_deleted(0)
        assert [(s.session_id, s.messages, s.removed) for s in report.sessions] == [
            ("trip", 3, False)
        ]
        assert report.session_ids == []
        assert [m.content for m in client.memory.get_messages("trip")] == ["new 0", "new 1"]
        assert client.memory.get_session("trip").user_id == "jane"
        # Now the old uuids are free.
        client.memory.add_messages("x", [Message(role="x", content="y", uuid=stored[0].uuid)])


def test_a_retention_of_zero_makes_a_soft_delete_a_hard_one(path: Path) -> None:
    with ZepMemoryClient(path=path, retention=0) as client:
        client.user.add(CreateUserRequest(user_id="jane"))
        client.memory.add_session(Session(session_id="s", user_id="jane", metadata={"a": 1}))
        client.memory.add_messages("s", msgs(2))
        client.memory.delete_memory("s")
        assert rows(path) == (0, 0)
        assert client.memory.add_session(Session(session_id="s")).metadata is None


def test_the_automatic_look_runs_at_most_once_a_minute(path: Path) -> None:
    deleted_session(path, "trip")
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("other", msgs(1))
        backdate(path, "trip", timedelta(hours=2))
        client.memory.add_messages("other", msgs(1))
        assert rows(path) == (2, 5)  # not looked for again yet
        store = client.backend.store  # type: ignore[attr-defined]
        store._next_purge = 0.0  # a minute has passed
        client.memory.add_messages("other", msgs(1))
        assert rows(path) == (1, 3)


def test_another_process_sees_the_purge(path: Path) -> None:
    deleted_session(path, "trip")
    one, two = ZepMemoryClient(path=path), ZepMemoryClient(path=path)
    try:
        with pytest.raises(AlreadyExistsError):
            two.memory.add_session(Session(session_id="trip"))
        one.memory.purge_deleted(0)
        assert two.memory.add_session(Session(session_id="trip")).session_id == "trip"
    finally:
        one.close()
        two.close()


def test_async_purge(path: Path) -> None:
    deleted_session(path, "trip", n=2)

    async def go() -> PurgeReport:
        async with ZepMemoryClient(path=path) as client:
            return await client.memory.apurge_deleted(older_than="0s")

    report = asyncio.run(go())
    assert report.session_ids == ["trip"] and report.message_count == 2


def test_the_store_refuses_a_bad_retention_naming_it(path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        SQLiteStore(path, retention="forever")
    assert info.value.field == "retention"
    with pytest.raises(InvalidInputError) as info:
        SQLiteStore(path).purge_deleted("-1d")
    assert info.value.field == "older_than"


def test_nothing_to_purge_reports_nothing_and_writes_nothing(path: Path) -> None:
    with ZepMemoryClient(path=path) as client:
        client.memory.add_messages("s", msgs(2))
    before = path.read_bytes()
    with ZepMemoryClient(path=path) as client:
        report = client.memory.purge_deleted(0)
    assert report.sessions == () and report.message_count == 0
    assert report.as_dict()["sessions"] == []
    assert path.read_bytes() == before


def test_uuid_of_a_message_is_kept_through_purge_of_another_session(path: Path) -> None:
    """Purging one session never touches another's messages, even with close uuids."""
    with ZepMemoryClient(path=path) as client:
        kept = client.memory.add_messages("keep", msgs(3))
        client.memory.add_messages("drop", msgs(3))
        client.memory.delete_memory("drop")
        client.memory.purge_deleted(0)
        assert [m.uuid for m in client.memory.get_messages("keep")] == [m.uuid for m in kept]
        assert all(isinstance(m.uuid, uuid.UUID) for m in kept)


def test_purge_report_times_are_utc(path: Path) -> None:
    deleted_session(path, "trip")
    with ZepMemoryClient(path=path) as client:
        (purged,) = client.memory.purge_deleted(0).sessions
    assert purged.deleted_at.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - purged.deleted_at) < timedelta(minutes=5)
