"""Contract: bad input is refused with InvalidInputError naming the field, and the store is
left exactly as it was. Runs on every backend, sync and async."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from zep_memory_plugins import (
    MAX_ID_LENGTH,
    CreateUserRequest,
    InvalidInputError,
    Message,
    Session,
    UpdateUserRequest,
    ZepMemoryError,
)

BAD_IDS = {
    "empty": "",
    "blank": "   ",
    "nul": "a\x00b",
    "newline": "line\nbreak",
    "escape": "esc\x1b[31m",
    "del": "x\x7f",
    "slash": "a/b",
    "question-mark": "jane?x",
    "hash": "jane#oops",
    "percent": "a%2Fb",
    "backslash": "a\\b",
    "dot": ".",
    "dot-dot": "..",
    "too-long": "x" * (MAX_ID_LENGTH + 1),
}
BAD_METADATA = {
    "object": {"x": object()},
    "set": {"x": {1, 2}},
    "nan": {"x": math.nan},
    "inf": {"deep": {"x": [math.inf]}},
    "bytes": {"x": b"raw"},
    "datetime": {"when": datetime(2024, 1, 1)},
    "int-key": {1: "x"},
    "not-a-dict": ["a", "b"],
}


async def _seed(api):
    await api.user.add(CreateUserRequest(user_id="jane", metadata={"k": 1}))
    await api.memory.add_session(Session(session_id="s", user_id="jane", metadata={"k": 1}))
    await api.memory.add_messages("s", [Message(role="user", content="kept")])


async def _snapshot(api):
    users = [(u.user_id, u.email, u.metadata) for u in await api.user.list()]
    sessions = [(s.session_id, s.user_id, s.metadata) for s in await api.memory.list_sessions()]
    messages = [(m.uuid, m.content, m.metadata) for m in await api.memory.get_messages("s")]
    return users, sessions, messages


@pytest.fixture
async def seeded(api):
    await _seed(api)
    before = await _snapshot(api)
    yield api
    assert await _snapshot(api) == before, "a rejected call changed the store"


@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_bad_user_ids_are_refused(seeded, bad):
    api = seeded
    with pytest.raises(InvalidInputError) as info:
        await api.user.add(CreateUserRequest(user_id=bad))
    assert info.value.field == "user_id"
    assert "user_id" in str(info.value)
    for call in (api.user.get, api.user.delete, api.user.get_sessions):
        with pytest.raises(InvalidInputError):
            await call(bad)


@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_bad_session_ids_are_refused(seeded, bad):
    api = seeded
    with pytest.raises(InvalidInputError, match="session_id"):
        await api.memory.add_session(Session(session_id=bad))
    with pytest.raises(InvalidInputError, match="session_id"):
        await api.memory.add_messages(bad, [Message(role="user", content="x")])
    for call in (api.memory.get_session, api.memory.delete_memory, api.memory.get_messages):
        with pytest.raises(InvalidInputError):
            await call(bad)


async def test_non_string_ids_are_refused(seeded):
    api = seeded
    for bad in (None, 42, b"bytes"):
        with pytest.raises(InvalidInputError):
            await api.user.get(bad)
        with pytest.raises(InvalidInputError):
            await api.memory.get_session(bad)


@pytest.mark.parametrize("bad", BAD_METADATA.values(), ids=BAD_METADATA.keys())
async def test_non_json_metadata_is_refused_everywhere(seeded, bad):
    api = seeded
    with pytest.raises(InvalidInputError, match="metadata"):
        await api.user.add(CreateUserRequest(user_id="new", metadata=bad))
    with pytest.raises(InvalidInputError, match="metadata"):
        await api.user.update(UpdateUserRequest(user_id="jane", metadata=bad))
    with pytest.raises(InvalidInputError, match="metadata"):
        await api.memory.add_session(Session(session_id="new", metadata=bad))
    with pytest.raises(InvalidInputError, match="metadata"):
        await api.memory.update_session(Session(session_id="s", metadata=bad))
    with pytest.raises(InvalidInputError, match="metadata"):
        await api.memory.add_messages("s", [{"role": "user", "content": "x", "metadata": bad}])


@pytest.mark.parametrize("role_type", ["human", "ai", "USER", "", "bot"])
async def test_unknown_role_types_are_refused_and_the_batch_is_not_stored(seeded, role_type):
    api = seeded
    batch = [
        {"role": "user", "content": "fine"},
        {"role": "x", "role_type": role_type, "content": "bad"},
    ]
    with pytest.raises(InvalidInputError) as info:
        await api.memory.add_messages("s", batch)
    assert info.value.field == "messages[1].role_type"


async def test_malformed_messages_are_refused(seeded):
    api = seeded
    bad_batches = {
        "no content": [{"role": "user"}],
        "content not text": [{"role": "user", "content": {"text": "x"}}],
        "bad uuid": [{"role": "user", "content": "x", "uuid": "not-a-uuid"}],
        "unknown field": [{"role": "user", "content": "x", "colour": "red"}],
        "not a message": ["just a string"],
        "a string, not a list": "hello",
    }
    for name, batch in bad_batches.items():
        with pytest.raises(InvalidInputError):
            await api.memory.add_messages("s", batch)
        assert [m.content for m in await api.memory.get_messages("s")] == ["kept"], name


async def test_bad_counts_are_refused(seeded):
    api = seeded
    for lastn in (0, -1, "5", 1.5, True):
        with pytest.raises(InvalidInputError, match="lastn"):
            await api.memory.get_messages("s", lastn=lastn)
    for limit in (-1, "10"):
        with pytest.raises(InvalidInputError, match="limit"):
            await api.user.list(limit=limit)
        with pytest.raises(InvalidInputError, match="limit"):
            await api.memory.list_sessions(limit=limit)
    with pytest.raises(InvalidInputError, match="cursor"):
        await api.user.list(cursor=-5)
    with pytest.raises(InvalidInputError, match="chunk_size"):
        await api.user.list_chunked(chunk_size=0)
    with pytest.raises(InvalidInputError, match="chunk_size"):
        await api.memory.list_all_sessions(chunk_size=-3)
    with pytest.raises(InvalidInputError, match="cursor"):
        await api.memory.get_session_messages("s", limit=10, cursor=0)


async def test_wrong_argument_types_are_refused(seeded):
    api = seeded
    with pytest.raises(InvalidInputError, match="CreateUserRequest"):
        await api.user.add("jane")
    with pytest.raises(InvalidInputError, match="Session"):
        await api.memory.add_session(42)
    with pytest.raises(InvalidInputError, match="session_id"):
        await api.memory.update_session(Session(metadata={"a": 1}))
    with pytest.raises(InvalidInputError):
        await api.user.add({"user_id": "x", "favourite_colour": "red"})


def test_invalid_input_is_both_ours_and_a_value_error():
    with pytest.raises(InvalidInputError) as info:
        Message(role="user", role_type="robot", content="x")
    assert isinstance(info.value, ZepMemoryError)
    assert isinstance(info.value, ValueError)
    assert "role_type" in str(info.value)
