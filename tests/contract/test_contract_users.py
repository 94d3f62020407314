"""Contract: users. Runs unchanged on every backend, sync and async (see conftest.py)."""

from __future__ import annotations

import pytest

from zep_memory_plugins import (
    AlreadyExistsError,
    CreateUserRequest,
    NotFoundError,
    Session,
    UpdateUserRequest,
)

#: Zep Cloud v4 users carry no ``updated_at`` (the model has none): a stated difference.
NO_UPDATED_AT = ("zep-v4",)


async def test_add_and_get_user_keeps_every_field(api, backend_name):
    added = await api.user.add(
        CreateUserRequest(
            user_id="jane",
            email="jane@example.com",
            first_name="Jane",
            last_name="Smith",
            metadata={"foo": "bar", "n": {"x": 1}},
        )
    )
    got = await api.user.get("jane")
    for user in (added, got):
        assert user.user_id == "jane"
        assert user.email == "jane@example.com"
        assert (user.first_name, user.last_name) == ("Jane", "Smith")
        assert user.metadata == {"foo": "bar", "n": {"x": 1}}
        assert user.uuid is not None
        assert user.created_at is not None
        assert (user.updated_at is None) == (backend_name in NO_UPDATED_AT)
        assert isinstance(user.id, int)
    assert got.uuid == added.uuid


async def test_user_accepts_a_plain_dict(api):
    await api.user.add({"user_id": "d", "email": "d@example.com"})
    assert (await api.user.get("d")).email == "d@example.com"


async def test_adding_an_existing_user_fails_and_keeps_the_first(api):
    await api.user.add(CreateUserRequest(user_id="jane", email="first@example.com"))
    with pytest.raises(AlreadyExistsError, match="jane"):
        await api.user.add(CreateUserRequest(user_id="jane", email="second@example.com"))
    assert (await api.user.get("jane")).email == "first@example.com"


async def test_get_unknown_user_is_not_found(api):
    with pytest.raises(NotFoundError):
        await api.user.get("nobody")


async def test_update_deep_merges_metadata_and_keeps_other_fields(api):
    await api.user.add(
        CreateUserRequest(
            user_id="jane",
            email="old@example.com",
            first_name="Jane",
            metadata={"a": 1, "n": {"x": 1}, "system": "kept on users"},
        )
    )
    updated = await api.user.update(
        UpdateUserRequest(user_id="jane", metadata={"b": 2, "n": {"y": 2}})
    )
    expected = {"a": 1, "b": 2, "n": {"x": 1, "y": 2}, "system": "kept on users"}
    assert updated.metadata == expected
    got = await api.user.get("jane")
    assert got.metadata == expected
    assert got.email == "old@example.com" and got.first_name == "Jane"


async def test_update_without_metadata_changes_only_given_fields(api, backend_name):
    before = await api.user.add(
        CreateUserRequest(
            user_id="jane", email="old@example.com", first_name="Jane", metadata={"k": 1}
        )
    )
    updated = await api.user.update(UpdateUserRequest(user_id="jane", email="new@example.com"))
    assert updated.email == "new@example.com"
    assert updated.first_name == "Jane"
    assert updated.metadata == {"k": 1}
    if backend_name not in NO_UPDATED_AT:
        assert updated.updated_at >= before.updated_at


async def test_empty_metadata_update_is_a_no_op(api):
    await api.user.add(CreateUserRequest(user_id="jane", metadata={"k": 1}))
    updated = await api.user.update(UpdateUserRequest(user_id="jane", metadata={}))
    assert updated.metadata == {"k": 1}
    assert (await api.user.get("jane")).metadata == {"k": 1}


async def test_update_unknown_user_is_not_found(api):
    with pytest.raises(NotFoundError):
        await api.user.update(UpdateUserRequest(user_id="ghost", email="g@example.com"))
    with pytest.raises(NotFoundError):
        await api.user.get("ghost")


async def test_delete_user_removes_all_sessions_and_messages_for_good(api):
    await api.user.add(CreateUserRequest(user_id="jane"))
    await api.user.add(CreateUserRequest(user_id="other"))
    for sid in ("s1", "s2"):
        await api.memory.add_session(Session(session_id=sid, user_id="jane"))
        await api.memory.add_messages(sid, [{"role": "user", "content": f"hello from {sid}"}])
    await api.memory.add_session(Session(session_id="keep", user_id="other"))
    await api.memory.add_messages("keep", [{"role": "user", "content": "other's"}])

    await api.user.delete("jane")

    with pytest.raises(NotFoundError):
        await api.user.get("jane")
    for sid in ("s1", "s2"):
        with pytest.raises(NotFoundError):
            await api.memory.get_session(sid)
        assert await api.memory.get_messages(sid) == []
    assert [s.session_id for s in await api.memory.list_sessions()] == ["keep"]
    assert [m.content for m in await api.memory.get_messages("keep")] == ["other's"]
    # Gone for good: the ids can be used again from scratch.
    again = await api.user.add(CreateUserRequest(user_id="jane"))
    assert again.metadata in (None, {})
    assert await api.user.get_sessions("jane") == []
    await api.memory.add_session(Session(session_id="s1", user_id="jane"))
    assert await api.memory.get_messages("s1") == []


async def test_delete_unknown_user_is_not_found(api):
    with pytest.raises(NotFoundError):
        await api.user.delete("nobody")


async def test_get_sessions_lists_live_sessions_of_that_user_only(api):
    await api.user.add(CreateUserRequest(user_id="jane"))
    await api.user.add(CreateUserRequest(user_id="bob"))
    for sid in ("j1", "j2", "j3"):
        await api.memory.add_session(Session(session_id=sid, user_id="jane"))
    await api.memory.add_session(Session(session_id="b1", user_id="bob"))
    await api.memory.delete_memory("j2")
    assert [s.session_id for s in await api.user.get_sessions("jane")] == ["j1", "j3"]
    assert all(s.user_id == "jane" for s in await api.user.get_sessions("jane"))
    assert [s.session_id for s in await api.user.get_sessions("bob")] == ["b1"]


async def test_get_sessions_of_unknown_user_is_not_found(api):
    with pytest.raises(NotFoundError):
        await api.user.get_sessions("nobody")


async def test_list_is_in_creation_order_with_limit_and_cursor(api):
    ids = [f"user-{i:02d}" for i in range(7)]
    for uid in ids:
        await api.user.add(CreateUserRequest(user_id=uid))
    everyone = await api.user.list()
    assert [u.user_id for u in everyone] == ids
    first = await api.user.list(limit=3, cursor=0)
    assert [u.user_id for u in first] == ids[:3]
    rest = await api.user.list(limit=10, cursor=first[-1].id)
    assert [u.user_id for u in rest] == ids[3:]
    assert await api.user.list(limit=10, cursor=everyone[-1].id) == []


async def test_list_cursor_means_id_greater_than_even_with_gaps(api):
    for uid in ("a", "b", "c", "d"):
        await api.user.add(CreateUserRequest(user_id=uid))
    await api.user.delete("b")  # a gap in the ids
    users = await api.user.list()
    assert [u.user_id for u in users] == ["a", "c", "d"]
    after_a = await api.user.list(limit=1, cursor=users[0].id)
    assert [u.user_id for u in after_a] == ["c"]


async def test_list_chunked_never_repeats_or_skips_across_gaps(api):
    ids = [f"u{i:03d}" for i in range(23)]
    for uid in ids:
        await api.user.add(CreateUserRequest(user_id=uid))
    for uid in ids[1::4]:  # punch gaps into the id sequence
        await api.user.delete(uid)
    remaining = [uid for uid in ids if uid not in ids[1::4]]
    chunks = await api.user.list_chunked(chunk_size=5)
    assert all(0 < len(chunk) <= 5 for chunk in chunks)
    assert [u.user_id for chunk in chunks for u in chunk] == remaining
    camel = await api.user.list_chunked(chunkSize=4)
    assert [u.user_id for chunk in camel for u in chunk] == remaining


async def test_list_chunked_on_an_empty_store_yields_nothing(api):
    assert await api.user.list_chunked(chunk_size=10) == []


UNUSUAL_BUT_VALID_IDS = [
    "jane@example.com",
    "a b",
    "a+b",
    "ü-ñ",
    "a:b;c=d&e",
    "[x]",
    "{y}",
    "~z",
    "a|b",
    "'q'",
    '"dq"',
    "<t>",
    "a,b",
    "$x",
    "*",
    "a..b",
    ".hidden",
    " lead",
    "trail ",
]


@pytest.mark.parametrize("odd_id", UNUSUAL_BUT_VALID_IDS)
async def test_unusual_ids_round_trip_and_never_alias_another(api, odd_id):
    # A neighbour whose id is a prefix: an id cut short on the wire would hit it.
    await api.user.add(CreateUserRequest(user_id="a", email="neighbour@example.com"))
    await api.user.add(CreateUserRequest(user_id=odd_id, email="odd@example.com"))
    assert (await api.user.get(odd_id)).email == "odd@example.com"
    await api.memory.add_session(Session(session_id=odd_id, user_id=odd_id))
    await api.memory.add_messages(odd_id, [{"role": "user", "content": odd_id}])
    assert [m.content for m in await api.memory.get_messages(odd_id)] == [odd_id]
    assert [s.session_id for s in await api.user.get_sessions(odd_id)] == [odd_id]
    await api.user.delete(odd_id)
    assert (await api.user.get("a")).email == "neighbour@example.com"
    with pytest.raises(NotFoundError):
        await api.user.get(odd_id)
