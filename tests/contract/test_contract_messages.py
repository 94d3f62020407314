"""Contract: messages. Runs unchanged on every backend, sync and async (see conftest.py)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from zep_memory_plugins import (
    AlreadyExistsError,
    CreateUserRequest,
    InvalidInputError,
    Memory,
    Message,
    NotFoundError,
    Session,
)
from zep_memory_plugins._models import RESERVED_MESSAGE_KEYS

#: The Zep Cloud backends, whose stated differences some tests name.
CLOUD = ("zep-v3", "zep-v4")


def _conversation(n: int) -> list[Message]:
    return [
        Message(
            role="user" if i % 2 == 0 else "assistant",
            content=f"message {i}",
            metadata={"i": i},
        )
        for i in range(n)
    ]


async def test_messages_come_back_oldest_first_with_every_field(api):
    sent = [
        Message(role="Jane", role_type="user", content="Hi, I'm Jane", metadata={"mood": "ok"}),
        Message(role="assistant", content="Hello Jane", metadata={"n": [1, 2], "ok": True}),
        Message(role="system", content="be nice"),
        Message(role="search", role_type="tool", content='{"result": 1}'),
        Message(role="f", role_type="function", content="fn out"),
        Message(role="narrator", content="no role type"),
    ]
    stored = await api.memory.add_messages("s", sent)
    assert len(stored) == len(sent)
    assert all(m.uuid is not None for m in stored)
    got = await api.memory.get_messages("s")
    assert [(m.role, m.role_type, m.content, m.metadata) for m in got] == [
        ("Jane", "user", "Hi, I'm Jane", {"mood": "ok"}),
        ("assistant", "assistant", "Hello Jane", {"n": [1, 2], "ok": True}),
        ("system", "system", "be nice", None),
        ("search", "tool", '{"result": 1}', None),
        ("f", "function", "fn out", None),
        ("narrator", "norole", "no role type", None),
    ]
    assert [m.uuid for m in got] == [m.uuid for m in stored]
    assert all(m.created_at is not None for m in got)


async def test_adding_messages_creates_the_session(api):
    await api.memory.add_messages("auto", [Message(role="user", content="hi")])
    session = await api.memory.get_session("auto")
    assert session.session_id == "auto"
    assert session.user_id is None
    assert [s.session_id for s in await api.memory.list_sessions()] == ["auto"]


async def test_many_batches_keep_order(api):
    conversation = _conversation(45)
    for start in range(0, 45, 7):
        await api.memory.add_messages("s", conversation[start : start + 7])
    got = await api.memory.get_messages("s")
    assert [m.content for m in got] == [m.content for m in conversation]


async def test_reading_all_is_not_limited_to_a_window(api):
    await api.memory.add_messages("s", _conversation(130))
    got = await api.memory.get_messages("s")
    assert len(got) == 130
    assert got[0].content == "message 0" and got[-1].content == "message 129"
    memory = await api.memory.get_memory("s")
    assert [m.content for m in memory.messages] == [m.content for m in got]


async def test_last_n_messages(api):
    await api.memory.add_messages("s", _conversation(30))
    last = await api.memory.get_messages("s", lastn=5)
    assert [m.content for m in last] == [f"message {i}" for i in range(25, 30)]
    assert len(await api.memory.get_messages("s", lastn=100)) == 30
    memory = await api.memory.get_memory("s", lastn=2)
    assert [m.content for m in memory.messages] == ["message 28", "message 29"]


async def test_paginated_read(api):
    await api.memory.add_messages("s", _conversation(25))
    pages = [await api.memory.get_session_messages("s", limit=10, cursor=p) for p in (1, 2, 3, 4)]
    assert [p.row_count for p in pages] == [10, 10, 5, 0]
    # As on both real Zep servers, a page past the end counts nothing.
    assert [p.total_count for p in pages] == [25, 25, 25, 0]
    contents = [m.content for p in pages for m in p.messages]
    assert contents == [f"message {i}" for i in range(25)]


async def test_unknown_session_has_no_messages(api):
    assert await api.memory.get_messages("never") == []
    assert await api.memory.get_messages("never", lastn=3) == []
    page = await api.memory.get_session_messages("never", limit=10, cursor=1)
    assert page.messages == [] and page.total_count == 0


async def test_client_chosen_uuids_are_kept(api):
    chosen = [uuid.uuid4(), uuid.uuid4()]
    await api.memory.add_messages(
        "s",
        [
            Message(role="user", content="a", uuid=chosen[0]),
            Message(role="user", content="b", uuid=str(chosen[1])),
        ],
    )
    assert [m.uuid for m in await api.memory.get_messages("s")] == chosen


#: Zep Cloud v4 assigns every message uuid itself: the uuid a caller gives is kept (packed in
#: the message and reported on reads) but not checked against those stored. A stated
#: difference; retried or repeated writes still store nothing twice (Idempotency-Key, resume).
UNCHECKED_UUIDS = ("zep-v4",)


async def test_duplicate_uuid_rejects_the_whole_batch(api, backend_name):
    taken = uuid.uuid4()
    await api.memory.add_messages("s", [Message(role="user", content="first", uuid=taken)])
    batch = [
        Message(role="user", content="would be second"),
        Message(role="user", content="dup", uuid=taken),
        Message(role="user", content="would be fourth"),
    ]
    if backend_name in UNCHECKED_UUIDS:
        await api.memory.add_messages("s", batch)
        got = await api.memory.get_messages("s")
        assert [m.content for m in got] == ["first", "would be second", "dup", "would be fourth"]
        assert [m.uuid for m in got].count(taken) == 2
        return
    with pytest.raises(AlreadyExistsError, match=str(taken)):
        await api.memory.add_messages("s", batch)
    assert [m.content for m in await api.memory.get_messages("s")] == ["first"]


async def test_duplicate_uuid_in_another_session_is_refused_too(api, backend_name):
    taken = uuid.uuid4()
    await api.memory.add_messages("a", [Message(role="user", content="a", uuid=taken)])
    if backend_name in UNCHECKED_UUIDS:
        await api.memory.add_messages("b", [Message(role="user", content="b", uuid=taken)])
        assert [m.uuid for m in await api.memory.get_messages("b")] == [taken]
        return
    with pytest.raises(AlreadyExistsError):
        await api.memory.add_messages("b", [Message(role="user", content="b", uuid=taken)])
    assert await api.memory.get_messages("b") == []


async def test_duplicate_uuid_within_one_batch_stores_nothing(api):
    twice = uuid.uuid4()
    with pytest.raises(AlreadyExistsError):
        await api.memory.add_messages(
            "s",
            [
                Message(role="user", content="x", uuid=twice),
                Message(role="user", content="y", uuid=twice),
            ],
        )
    assert await api.memory.get_messages("s") == []


async def test_empty_batch_stores_nothing(api):
    assert await api.memory.add_messages("s", []) == []
    assert await api.memory.get_messages("s") == []


async def test_add_memory_and_get_memory_use_zeps_names(api):
    await api.memory.add_memory("s", Memory(messages=_conversation(3)))
    memory = await api.memory.get_memory("s")
    assert isinstance(memory, Memory)
    assert [m.content for m in memory.messages] == ["message 0", "message 1", "message 2"]


async def test_update_message_metadata_merges(api):
    stored = await api.memory.add_messages(
        "s", [Message(role="user", content="hi", metadata={"a": 1, "l": [1, 2]})]
    )
    updated = await api.memory.update_message_metadata("s", stored[0].uuid, {"l": [3], "b": "x"})
    assert updated.metadata == {"a": 1, "l": [3], "b": "x"}
    assert (updated.uuid, updated.content) == (stored[0].uuid, "hi")
    (got,) = await api.memory.get_messages("s")
    assert got.metadata == {"a": 1, "l": [3], "b": "x"}
    with pytest.raises(NotFoundError):
        await api.memory.update_message_metadata("s", uuid.uuid4(), {"a": 1})


async def test_nested_message_metadata_per_generation(api, backend_name):
    """Nested objects in message metadata, deep-merged by an update: kept everywhere but on
    Zep Cloud, which takes only scalars and arrays of scalars there (``zep-v3``, ``zep-v4``):
    refused before anything is sent, naming the field, as Cloud's other limits are."""
    nested = Message(role="user", content="hi", metadata={"a": 1, "n": {"x": 1}})
    if backend_name in CLOUD:
        with pytest.raises(InvalidInputError) as caught:
            await api.memory.add_messages("s", [nested])
        assert caught.value.field == "messages[0].metadata.n"
        assert await api.memory.get_messages("s") == []
        stored = await api.memory.add_messages("s", [Message(role="user", content="hi")])
        with pytest.raises(InvalidInputError):
            await api.memory.update_message_metadata("s", stored[0].uuid, {"n": {"y": 2}})
        assert (await api.memory.get_messages("s"))[0].metadata is None
        return
    stored = await api.memory.add_messages("s", [nested])
    await api.memory.update_message_metadata("s", stored[0].uuid, {"n": {"y": 2}})
    (got,) = await api.memory.get_messages("s")
    assert got.metadata == {"a": 1, "n": {"x": 1, "y": 2}}


async def test_users_sessions_do_not_see_each_others_messages(api):
    for uid in ("jane", "bob"):
        await api.user.add(CreateUserRequest(user_id=uid))
        await api.memory.add_session(Session(session_id=f"{uid}-s", user_id=uid))
        await api.memory.add_messages(f"{uid}-s", [Message(role="user", content=f"I am {uid}")])
    assert [m.content for m in await api.memory.get_messages("jane-s")] == ["I am jane"]
    assert [m.content for m in await api.memory.get_messages("bob-s")] == ["I am bob"]


async def test_unicode_content_round_trips(api):
    text = "héllo — 你好 👋 \n\t tabs and newlines"
    await api.memory.add_messages(
        "s", [Message(role="user", content=text, metadata={"ключ": "значение"})]
    )
    (got,) = await api.memory.get_messages("s")
    assert got.content == text and got.metadata == {"ключ": "значение"}


async def test_a_given_created_at_comes_back_as_given(api):
    """Zep servers stamp messages on arrival; a time the caller gives is kept all the same.

    Messages given none show the store's (or server's) time of arrival.
    """
    given = [
        datetime(2020, 5, 17, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(1, 1, 1, tzinfo=timezone.utc),  # Go's zero time: a value, not "unset"
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    ]
    before = datetime.now(timezone.utc) - timedelta(minutes=5)
    sent = [Message(role="user", content=f"m{i}", created_at=t) for i, t in enumerate(given)]
    sent.append(Message(role="user", content="now", metadata={"k": "v"}))
    stored = await api.memory.add_messages("s", sent)
    for got in (
        await api.memory.get_messages("s"),
        (await api.memory.get_session_messages("s", 10, 1)).messages,
    ):
        assert [m.created_at for m in got[:3]] == given
        assert [m.created_at.utcoffset() for m in got[:3]] == [t.utcoffset() for t in given]
        assert [m.metadata for m in got] == [None, None, None, {"k": "v"}]  # the key is hidden
        assert got[3].created_at is not None and got[3].created_at > before
    updated = await api.memory.update_message_metadata("s", stored[0].uuid, {"x": 1})
    assert (updated.created_at, updated.metadata) == (given[0], {"x": 1})
    [last] = await api.memory.get_messages("s", lastn=1)
    assert last.content == "now"


@pytest.mark.parametrize("key", RESERVED_MESSAGE_KEYS)
async def test_reserved_message_metadata_keys_are_refused(api, key):
    """The library's own message-metadata keys are refused on every backend alike."""
    await api.memory.add_messages("s", [Message(role="user", content="x")])
    [stored] = await api.memory.get_messages("s")
    with pytest.raises(InvalidInputError) as caught:
        await api.memory.add_messages("s", [Message(role="user", content="y", metadata={key: "1"})])
    assert caught.value.field == f"messages[0].metadata.{key}"
    with pytest.raises(InvalidInputError):
        await api.memory.update_message_metadata("s", stored.uuid, {key: "1"})
    assert await api.memory.get_messages("s") == [stored]
