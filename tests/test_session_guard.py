"""SessionGuard: ownership is checked before anything is written, on every backend."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zep_memory_plugins import (
    CreateUserRequest,
    Message,
    NotFoundError,
    SessionOwnershipError,
    ZepMemoryClient,
)
from zep_memory_plugins._session_guard import SessionGuard


def msg(text: str) -> list[Message]:
    return [Message(role="user", content=text)]


def test_an_intruder_on_a_cleared_session_changes_nothing(open_client):
    owner_client, intruder_client = open_client(), open_client()
    owner = SessionGuard(owner_client)
    owner.ensure_write("ann", "s", {"topic": "private"})
    owner.append("s", msg("ann's secret"))
    owner.delete("s")  # cleared: soft-deleted, its owner no longer visible to anyone

    intruder = SessionGuard(intruder_client)
    with pytest.raises(SessionOwnershipError) as info:
        intruder.ensure_write("carl", "s", None)
    assert "ann" not in str(info.value)
    with pytest.raises(NotFoundError):
        intruder_client.memory.get_session("s")  # still deleted
    with pytest.raises(NotFoundError):
        intruder_client.user.get("carl")  # the refused write created no user
    assert intruder_client.memory.get_messages("s") == []

    # The owner, from a fresh process, writes again: the session comes back as theirs.
    again = SessionGuard(open_client())
    again.ensure_write("ann", "s", None)
    again.append("s", msg("back"))
    session = owner_client.memory.get_session("s")
    assert session.user_id == "ann" and session.metadata["topic"] == "private"
    assert [m.content for m in owner_client.memory.get_messages("s")] == ["back"]


async def test_async_intruder_on_a_cleared_session_changes_nothing(open_client):
    owner_client, intruder_client = open_client(), open_client()
    owner = SessionGuard(owner_client)
    await owner.aensure_write("ann", "s", None)
    await owner.aappend("s", msg("secret"))
    await owner.adelete("s")
    with pytest.raises(SessionOwnershipError):
        await SessionGuard(intruder_client).aensure_write("carl", "s", None)
    with pytest.raises(NotFoundError):
        await intruder_client.memory.aget_session("s")
    with pytest.raises(NotFoundError):
        await intruder_client.user.aget("carl")


def test_a_live_session_of_another_user_is_refused_before_any_write(client):
    SessionGuard(client).ensure_write("ann", "s", None)
    client.stats.reset()
    with pytest.raises(SessionOwnershipError):
        SessionGuard(client).ensure_write("carl", "s", None)
    assert client.stats.writes == 0


def visible_state(client) -> dict[str, object]:
    """Everything a user of the API can see, to compare before and after a refused call."""
    return {
        "users": [(u.user_id, u.metadata) for u in client.user.list()],
        "sessions": [(s.session_id, s.user_id, s.metadata) for s in client.memory.list_sessions()],
        "messages": [m.content for m in client.memory.get_messages("s")],
    }


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_refused_write_with_metadata_leaves_a_cleared_session_as_it_was(open_client, mode):
    owner_client = open_client()
    owner = SessionGuard(owner_client)
    owner.ensure_write("ann", "s", {"topic": "private"})
    owner.append("s", msg("secret"))
    owner.delete("s")
    before = visible_state(owner_client)

    intruder = SessionGuard(open_client())
    with pytest.raises(SessionOwnershipError):
        if mode == "sync":
            intruder.ensure_write("carl", "s", {"planted": "by carl", "topic": "hijacked"})
        else:
            await intruder.aensure_write("carl", "s", {"planted": "by carl", "topic": "hijacked"})
    assert visible_state(owner_client) == before

    SessionGuard(open_client()).ensure_write("ann", "s", None)  # the owner comes back
    metadata = owner_client.memory.get_session("s").metadata or {}
    assert metadata["topic"] == "private" and "planted" not in metadata


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_user_delete_through_the_client_is_forgotten(client, mode):
    guard = SessionGuard(client)
    guard.ensure_write("ann", "s", None)
    guard.append("s", msg("before"))
    assert [m.content for m in guard.history("s")] == ["before"]
    if mode == "sync":
        client.user.delete("ann")
        guard.ensure_write("ann", "s", None)
        guard.append("s", msg("after"))
    else:
        await client.user.adelete("ann")
        await guard.aensure_write("ann", "s", None)
        await guard.aappend("s", msg("after"))
    assert client.memory.get_session("s").user_id == "ann"
    assert [m.content for m in guard.history("s")] == ["after"]
    client.user.delete("ann")
    with pytest.raises(NotFoundError):
        client.memory.get_session("s")


def test_a_session_deleted_by_another_client_is_checked_again(open_client):
    mine, theirs = open_client(), open_client()
    guard = SessionGuard(mine)
    guard.ensure_write("ann", "s", None)
    guard.append("s", msg("a"))
    guard.history("s")
    mine.stats.reset()
    guard.ensure_write("ann", "s", None)  # known: no request
    assert mine.stats.calls == {}
    theirs.user.delete("ann")
    assert guard.history("s") == []  # the read sees held messages gone...
    guard.ensure_write("ann", "s", None)  # ...so the owner is checked, and the session made
    guard.append("s", msg("b"))
    assert theirs.memory.get_session("s").user_id == "ann"
    theirs.user.delete("ann")
    assert theirs.memory.get_messages("s") == []


def test_a_clear_through_the_client_keeps_what_is_known_of_the_owner(client, backend_name):
    guard = SessionGuard(client)
    guard.ensure_write("ann", "s", {"topic": "t"})
    guard.append("s", msg("a"))
    client.memory.delete_memory("s")
    client.stats.reset()
    guard.ensure_write("ann", "s", None)  # soft-deleted sessions keep their owner
    guard.append("s", msg("b"))
    if backend_name == "embedded":
        # The store may have purged it meanwhile: a look (a read, a reviving update) first.
        assert client.stats.calls == {"get_session": 1, "update_session": 1, "add_messages": 1}
    else:
        assert client.stats.calls == {"add_messages": 1}
    session = client.memory.get_session("s")
    assert session.user_id == "ann" and session.metadata == {"topic": "t"}
    client.stats.reset()
    guard.append("s", msg("c"))  # then writes are one call again
    guard.ensure_write("ann", "s", None)
    assert client.stats.calls == {"add_messages": 1}


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_cleared_session_purged_meanwhile_is_made_again_for_its_owner(tmp_path, mode):
    """Cleared through this client, then purged (on request, or the retention ran out): the next
    write makes the session again, owned by its user (never an ownerless session a user delete
    would miss)."""
    for retention, purge in (("1h", True), (0, False)):
        path = tmp_path / f"m-{retention}.db"
        with ZepMemoryClient(path=path, retention=retention) as client:
            admin = ZepMemoryClient(path=path)  # another client: the guard is not told
            guard = SessionGuard(client)
            guard.ensure_write("ann", "s", {"topic": "t"})
            guard.append("s", msg("a"))
            assert guard.clear("ann", "s")
            if purge:
                assert admin.memory.purge_deleted(0).session_ids == ["s"]
            if mode == "sync":
                guard.ensure_write("ann", "s", None)
                guard.append("s", msg("b"))
            else:
                await guard.aensure_write("ann", "s", None)
                await guard.aappend("s", msg("b"))
            session = client.memory.get_session("s")
            assert session.user_id == "ann"
            assert session.metadata is None  # a new session: the old one is gone for good
            assert [m.content for m in client.memory.get_messages("s")] == ["b"]
            client.user.delete("ann")
            assert client.memory.get_messages("s") == []
            admin.close()


def test_a_purge_through_the_client_is_forgotten_by_its_guard(tmp_path):
    with ZepMemoryClient(path=tmp_path / "m.db") as client:
        guard = SessionGuard(client)
        guard.ensure_write("ann", "s", None)
        guard.append("s", msg("a"))
        client.memory.delete_memory("s")
        client.memory.purge_deleted(older_than=0)
        guard.ensure_write("ann", "s", None)
        guard.append("s", msg("b"))
        assert client.memory.get_session("s").user_id == "ann"


def test_a_rewrite_on_a_store_that_purges_at_once_keeps_the_owner(tmp_path):
    from zep_memory_plugins._duplex import run

    with ZepMemoryClient(path=tmp_path / "m.db", retention=0) as client:
        guard = SessionGuard(client)
        guard.ensure_write("ann", "s", None)
        guard.append("s", msg("a") + msg("b"))
        run(guard.plan_rewrite("ann", "s", msg("b"), keep_session=False))
        assert client.memory.get_session("s").user_id == "ann"
        assert [m.content for m in client.memory.get_messages("s")] == ["b"]
        run(guard.plan_rewrite("ann", "s", [], keep_session=True))
        assert client.memory.get_session("s").user_id == "ann"
        assert client.memory.get_messages("s") == []
        assert [s.session_id for s in client.user.get_sessions("ann")] == ["s"]


THEIRS = st.sampled_from(
    ["clear", "delete user", "their turn", "nothing", "purge", "my clear, their purge"]
)


@settings(max_examples=80, deadline=None)
@given(ops=st.lists(st.tuples(THEIRS, st.integers(1, 60)), max_size=10))
def test_every_turn_leaves_the_session_with_its_owner(ops: list[tuple[str, int]]) -> None:
    """Whatever another client does between this client's turns (read, then write), each turn
    sees what is stored and leaves the session owned by its user, reachable by a user delete.

    Two clients on one embedded store (in memory, for many examples)."""
    with ZepMemoryClient(path=":memory:") as mine:
        theirs = ZepMemoryClient(backend=mine.backend)
        guard, other = SessionGuard(mine), SessionGuard(theirs)
        mine.user.add(CreateUserRequest(user_id="ann"))

        def turn(g: SessionGuard, n: int) -> None:
            if g.check_read("ann", "s"):
                assert g.history("s") == mine.memory.get_messages("s")
            g.ensure_write("ann", "s", None)
            g.append("s", [Message(role="user", content=str(i)) for i in range(n)])

        for op, n in ops:
            if op == "clear":
                with contextlib.suppress(NotFoundError):
                    theirs.memory.delete_memory("s")
            elif op == "delete user":
                with contextlib.suppress(NotFoundError):
                    theirs.user.delete("ann")
            elif op == "their turn":
                turn(other, n)
            elif op == "purge":
                theirs.memory.purge_deleted(0)
            elif op == "my clear, their purge":
                guard.clear("ann", "s")
                theirs.memory.purge_deleted(0)
            turn(guard, n)
            assert mine.memory.get_session("s").user_id == "ann"
        with contextlib.suppress(NotFoundError):
            theirs.user.delete("ann")
        assert mine.memory.get_messages("s") == []


# -- the pieces of the guard: ownership record, registry, one path for the adapters ------------


def test_the_ownership_record_knows_owners_and_absent_sessions() -> None:
    from zep_memory_plugins import Session
    from zep_memory_plugins._session_guard import OwnershipRecord

    record = OwnershipRecord()
    assert not record.known("ann", "s")
    record.missing("s")
    assert record.is_absent("s")
    record.verify(Session(session_id="s", user_id="ann"), "ann")
    assert record.known("ann", "s") and not record.is_absent("s")
    with pytest.raises(SessionOwnershipError, match="another user"):
        record.known("carl", "s")
    with pytest.raises(SessionOwnershipError, match="no user"):
        record.verify(Session(session_id="t", user_id=None), "ann")
    assert not record.known("ann", "t")  # a refused session is not recorded
    assert record.user_deleted("ann") == ["s"]
    assert record.is_absent("s") and not record.known("carl", "s")


def test_every_thread_gets_the_one_guard_of_a_client() -> None:
    import threading

    from zep_memory_plugins._session_guard import guard_for

    client = ZepMemoryClient(path=":memory:")
    start = threading.Barrier(8)
    got: list[SessionGuard] = []

    def take() -> None:
        start.wait()
        got.append(guard_for(client))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(g is got[0] for g in got)
    assert guard_for(client).cache is got[0].cache
    assert guard_for(ZepMemoryClient(path=":memory:")) is not got[0]
    client.close()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_clear_checks_the_owner_before_deleting(client, mode):
    import asyncio

    from zep_memory_plugins._duplex import arun, run

    guard = SessionGuard(client)
    guard.ensure_write("ann", "s", None)
    guard.append("s", msg("kept"))

    def clear(user_id: str, session_id: str) -> bool:
        plan = guard.plan_clear(user_id, session_id)
        return run(plan) if mode == "sync" else asyncio.run(arun(plan))

    with pytest.raises(SessionOwnershipError):
        clear("carl", "s")
    assert [m.content for m in client.memory.get_messages("s")] == ["kept"]
    assert clear("ann", "nothing-here") is False
    assert clear("ann", "s") is True
    assert client.memory.get_messages("s") == []
    assert clear("ann", "s") is False  # already deleted


def test_a_windowed_read_through_the_guard_sees_a_deleted_session(open_client):
    """A window read goes through the history cache too: a session deleted meanwhile is seen,
    and the owner is checked again before the next write (not an ownerless session)."""
    mine, theirs = open_client(), open_client()
    guard = SessionGuard(mine)
    guard.ensure_write("ann", "s", None)
    guard.append("s", msg("a"))
    theirs.user.delete("ann")
    assert guard.read("ann", "s", 5) == []
    guard.ensure_write("ann", "s", None)
    guard.append("s", msg("b"))
    assert theirs.memory.get_session("s").user_id == "ann"


def test_zep_memory_window_reads_go_through_the_shared_path(open_client):
    """ZepMemory's windowed ``get`` reads through the guard and its cache: after another
    process deletes the user, the next turn recreates the session owned by the user."""
    from llama_index.core.llms import ChatMessage

    from zep_memory_plugins.llama_index import ZepMemory

    mine, theirs = open_client(), open_client()
    memory = ZepMemory(mine, "ann", "s", last_n=4)
    memory.put_messages([ChatMessage(role="user", content="hi")])
    theirs.user.delete("ann")
    assert memory.get() == []
    memory.put_messages([ChatMessage(role="user", content="again")])
    assert theirs.memory.get_session("s").user_id == "ann"
