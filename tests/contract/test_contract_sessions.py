"""Contract: sessions. Runs unchanged on every backend, sync and async (see conftest.py)."""

from __future__ import annotations

import pytest

from zep_memory_plugins import (
    AlreadyExistsError,
    CreateUserRequest,
    Message,
    NotFoundError,
    Session,
)


async def test_add_session_with_user_and_metadata(api):
    await api.user.add(CreateUserRequest(user_id="jane"))
    added = await api.memory.add_session(
        Session(session_id="s1", user_id="jane", metadata={"foo": "bar"})
    )
    got = await api.memory.get_session("s1")
    for session in (added, got):
        assert session.session_id == "s1"
        assert session.user_id == "jane"
        assert session.metadata == {"foo": "bar"}
        assert session.uuid is not None and session.created_at is not None
        assert session.deleted_at is None
        assert isinstance(session.id, int)


async def test_add_session_without_session_id_gets_a_fresh_one(api):
    await api.user.add(CreateUserRequest(user_id="jane"))
    a = await api.memory.add_session(Session(user_id="jane", metadata={"foo": "bar"}))
    b = await api.memory.add_session(Session(user_id="jane"))
    assert a.session_id and b.session_id and a.session_id != b.session_id
    assert (await api.memory.get_session(a.session_id)).metadata == {"foo": "bar"}


async def test_top_level_system_metadata_is_kept_on_add_and_ignored_on_update(api):
    # As both real Zep servers do (v0.27.2 and CE 1.0.2 transcripts).
    metadata = {"system": "x", "keep": {"system": "nested stays"}}
    added = await api.memory.add_session(Session(session_id="s", metadata=metadata))
    assert added.metadata == metadata
    updated = await api.memory.update_session(
        Session(session_id="s", metadata={"system": "changed", "b": 1})
    )
    assert updated.metadata == {**metadata, "b": 1}
    assert (await api.memory.get_session("s")).metadata == {**metadata, "b": 1}


async def test_add_existing_session_fails_even_when_soft_deleted(api):
    await api.memory.add_session(Session(session_id="s", metadata={"v": 1}))
    with pytest.raises(AlreadyExistsError, match="s"):
        await api.memory.add_session(Session(session_id="s", metadata={"v": 2}))
    assert (await api.memory.get_session("s")).metadata == {"v": 1}
    await api.memory.delete_memory("s")
    with pytest.raises(AlreadyExistsError):
        await api.memory.add_session(Session(session_id="s"))


async def test_add_session_for_unknown_user_fails_and_stores_nothing(api):
    with pytest.raises(NotFoundError, match="ghost"):
        await api.memory.add_session(Session(session_id="s", user_id="ghost"))
    with pytest.raises(NotFoundError):
        await api.memory.get_session("s")
    assert await api.memory.list_sessions() == []


async def test_get_unknown_session_is_not_found(api):
    with pytest.raises(NotFoundError):
        await api.memory.get_session("nope")


async def test_update_session_deep_merges_and_drops_system(api):
    await api.memory.add_session(Session(session_id="s", metadata={"a": 1, "n": {"x": 1}}))
    updated = await api.memory.update_session(
        Session(session_id="s", metadata={"b": 2, "n": {"y": 2}, "system": "dropped"})
    )
    expected = {"a": 1, "b": 2, "n": {"x": 1, "y": 2}}
    assert updated.metadata == expected
    assert (await api.memory.get_session("s")).metadata == expected


async def test_update_session_replaces_non_dict_values_and_never_removes_keys(api):
    await api.memory.add_session(Session(session_id="s", metadata={"a": {"x": 1}, "b": [1, 2]}))
    await api.memory.update_session(Session(session_id="s", metadata={"a": 5, "b": [3]}))
    assert (await api.memory.get_session("s")).metadata == {"a": 5, "b": [3]}


async def test_empty_session_update_is_a_no_op(api):
    await api.memory.add_session(Session(session_id="s", metadata={"k": 1}))
    before = await api.memory.get_session("s")
    after = await api.memory.update_session(Session(session_id="s", metadata={}))
    assert after.metadata == {"k": 1}
    assert after.updated_at == before.updated_at
    none = await api.memory.update_session(Session(session_id="s"))
    assert none.metadata == {"k": 1}


async def test_update_unknown_session_is_not_found(api):
    with pytest.raises(NotFoundError):
        await api.memory.update_session(Session(session_id="nope", metadata={"a": 1}))
    with pytest.raises(NotFoundError):
        await api.memory.get_session("nope")


async def test_soft_delete_hides_session_and_messages(api):
    await api.user.add(CreateUserRequest(user_id="jane"))
    await api.memory.add_session(Session(session_id="s", user_id="jane"))
    await api.memory.add_messages("s", [Message(role="user", content="hi")])
    await api.memory.delete_memory("s")
    with pytest.raises(NotFoundError):
        await api.memory.get_session("s")
    assert await api.memory.get_messages("s") == []
    assert await api.memory.get_messages("s", lastn=5) == []
    assert await api.memory.list_sessions() == []
    assert await api.user.get_sessions("jane") == []
    page = await api.memory.get_session_messages("s", limit=10, cursor=1)
    assert page.messages == [] and page.total_count == 0
    with pytest.raises(NotFoundError):
        await api.memory.delete_memory("s")


async def test_delete_unknown_session_is_not_found(api):
    with pytest.raises(NotFoundError):
        await api.memory.delete_memory("nope")


async def test_writing_to_a_deleted_session_revives_it_without_old_messages(api):
    await api.user.add(CreateUserRequest(user_id="jane"))
    await api.memory.add_session(Session(session_id="s", user_id="jane", metadata={"k": 1}))
    await api.memory.add_messages("s", [Message(role="user", content="old")])
    await api.memory.delete_memory("s")
    await api.memory.add_messages("s", [Message(role="user", content="new")])
    revived = await api.memory.get_session("s")
    assert revived.metadata == {"k": 1}
    assert revived.user_id == "jane"
    assert revived.deleted_at is None
    assert [m.content for m in await api.memory.get_messages("s")] == ["new"]
    assert [s.session_id for s in await api.user.get_sessions("jane")] == ["s"]


async def test_updating_a_deleted_session_revives_it(api):
    await api.memory.add_session(Session(session_id="s", metadata={"k": 1}))
    await api.memory.add_messages("s", [Message(role="user", content="old")])
    await api.memory.delete_memory("s")
    revived = await api.memory.update_session(Session(session_id="s", metadata={"j": 2}))
    assert revived.metadata == {"k": 1, "j": 2}
    assert (await api.memory.get_session("s")).metadata == {"k": 1, "j": 2}
    assert await api.memory.get_messages("s") == []


async def test_list_sessions_with_limit_and_cursor_skips_deleted(api):
    for sid in ("s0", "s1", "s2", "s3", "s4"):
        await api.memory.add_session(Session(session_id=sid))
    await api.memory.delete_memory("s2")
    everything = await api.memory.list_sessions()
    assert [s.session_id for s in everything] == ["s0", "s1", "s3", "s4"]
    first = await api.memory.list_sessions(limit=2, cursor=0)
    assert [s.session_id for s in first] == ["s0", "s1"]
    rest = await api.memory.list_sessions(limit=10, cursor=first[-1].id)
    assert [s.session_id for s in rest] == ["s3", "s4"]


async def test_list_all_sessions_in_chunks_never_repeats_or_skips(api):
    ids = [f"s{i:03d}" for i in range(17)]
    for sid in ids:
        await api.memory.add_session(Session(session_id=sid))
    for sid in ids[::5]:
        await api.memory.delete_memory(sid)
    live = [sid for sid in ids if sid not in ids[::5]]
    chunks = await api.memory.list_all_sessions(chunk_size=4)
    assert all(0 < len(chunk) <= 4 for chunk in chunks)
    assert [s.session_id for chunk in chunks for s in chunk] == live


def test_a_write_from_another_client_after_a_delete_per_generation(open_client, backend_name):
    """The one soft-delete difference left on Community Edition (``zep-v2``), stated here.

    Everywhere, the messages written after the delete are kept, owned by the session's user
    and gone with that user. On the embedded store and ``/api/v1`` the write also revives the
    session; on CE the client that deleted it left a stand-in that only an update revives.
    """
    first, other = open_client(), open_client()
    first.user.add(CreateUserRequest(user_id="ann"))
    first.memory.add_session(Session(session_id="s", user_id="ann", metadata={"a": 1}))
    first.memory.add_messages("s", [Message(role="user", content="old")])
    first.memory.delete_memory("s")
    other.memory.add_messages("s", [Message(role="user", content="new")])
    assert [m.content for m in other.memory.get_messages("s")] == ["new"]
    if backend_name == "zep-v2":
        with pytest.raises(NotFoundError):
            other.memory.get_session("s")
        assert other.user.get_sessions("ann") == []
        revived = other.memory.update_session(Session(session_id="s", metadata={"b": 2}))
    else:
        revived = other.memory.get_session("s")
    assert (revived.user_id, revived.metadata.get("a")) == ("ann", 1)
    assert [s.session_id for s in other.user.get_sessions("ann")] == ["s"]
    other.user.delete("ann")
    assert first.memory.get_messages("s") == []


#: HTTP requests of a session delete. CE forgets a deleted session: read it, delete it, put
#: its stand-in in its place. Zep Cloud deletes threads for real: read the session's record,
#: delete its thread, mark the record deleted.
DELETE_COST = {"zep-v1": 1, "zep-v2": 3, "zep-v3": 3, "zep-v4": 3}


def test_deleting_a_session_costs_per_generation(open_client, backend_name):
    client = open_client()
    client.memory.add_session(Session(session_id="s"))
    client.stats.reset()
    client.memory.delete_memory("s")
    if backend_name.startswith("zep"):
        assert client.stats.http_requests == DELETE_COST[backend_name]
    assert client.stats.calls["delete_session"] == 1
