"""ZepChatMessageHistory: lossless round trips, ownership, creation, windows, clearing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    message_to_dict,
)

from zep_memory_plugins import (
    InvalidInputError,
    Message,
    SessionOwnershipError,
    ZepMemoryClient,
)
from zep_memory_plugins._models import pack_json
from zep_memory_plugins.langchain import (
    LANGCHAIN_MESSAGE_KEY,
    REVIVED_SESSION_KEY,
    ZepChatMessageHistory,
    from_zep_message,
    to_zep_message,
)


def every_message_type() -> list[BaseMessage]:
    return [
        SystemMessage("You are terse.", id="sys-1"),
        HumanMessage("Hi, I'm Ann", name="ann", id="h-1", additional_kwargs={"lang": "en"}),
        AIMessage(
            "",
            id="ai-1",
            tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_1"}],
            invalid_tool_calls=[
                {"name": "weather", "args": "{bad json", "id": "call_2", "error": "bad json"}
            ],
            usage_metadata={"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
            response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
        ),
        ToolMessage(
            "18°C, sunny",
            tool_call_id="call_1",
            name="weather",
            artifact={"raw": {"temp": 18, "unit": "C"}},
            status="success",
        ),
        ToolMessage("boom", tool_call_id="call_2", status="error"),
        FunctionMessage('{"ok": true}', name="legacy_fn"),
        ChatMessage("Looks right to me.", role="critic"),
        ChatMessage("as a user", role="user"),
        AIMessage(
            [
                {"type": "text", "text": "Paris is "},
                {"type": "text", "text": "sunny."},
                {"type": "image_url", "image_url": {"url": "https://example.com/p.png"}},
            ],
            name="bot",
        ),
        HumanMessage([{"type": "text", "text": "thanks"}, "!"]),
        AIMessageChunk("partial", id="chunk-1"),
        HumanMessage('émoji 🌍 and "quotes"\nnewline'),
    ]


def test_every_message_type_round_trips(client: ZepMemoryClient) -> None:
    sent = every_message_type()
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    history.add_messages(sent)
    assert history.messages == sent
    # and through a new history object that has nothing cached
    fresh = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    back = fresh.messages
    assert back == sent
    assert [type(m) for m in back] == [type(m) for m in sent]


async def test_every_message_type_round_trips_async(client: ZepMemoryClient) -> None:
    sent = every_message_type()
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    await history.aadd_messages(sent)
    fresh = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    assert await fresh.aget_messages() == sent


def test_round_trip_survives_a_new_client(open_client: Callable[[], ZepMemoryClient]) -> None:
    sent = every_message_type()
    ZepChatMessageHistory(session_id="s1", user_id="ann", client=open_client()).add_messages(sent)
    other = ZepChatMessageHistory(session_id="s1", user_id="ann", client=open_client())
    assert other.messages == sent


def test_zep_sees_natural_messages(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    history.add_messages(every_message_type())
    stored = client.memory.get_messages("s1")
    view = [(m.role_type, m.role, m.content) for m in stored]
    assert view == [
        ("system", "system", "You are terse."),
        ("user", "ann", "Hi, I'm Ann"),
        ("assistant", "ai", ""),
        ("tool", "weather", "18°C, sunny"),
        ("tool", "tool", "boom"),
        ("function", "legacy_fn", '{"ok": true}'),
        ("norole", "critic", "Looks right to me."),
        ("user", "user", "as a user"),
        ("assistant", "bot", "Paris is sunny."),
        ("user", "human", "thanks!"),
        ("assistant", "ai", "partial"),
        ("user", "human", 'émoji 🌍 and "quotes"\nnewline'),
    ]
    for m in stored:
        assert set(m.metadata or {}) == {LANGCHAIN_MESSAGE_KEY}


def test_converters_are_inverse() -> None:
    for message in every_message_type():
        assert from_zep_message(to_zep_message(message)) == message


def test_foreign_messages_are_readable(client: ZepMemoryClient) -> None:
    """Messages written by another Zep consumer (no LangChain metadata) still load."""
    history = ZepChatMessageHistory(session_id="shared", user_id="ann", client=client)
    history.add_messages([HumanMessage("first")])
    client.memory.add_messages(
        "shared",
        [
            Message(role="Jane", role_type="user", content="hello"),
            Message(role="assistant", role_type="assistant", content="hi Jane"),
            Message(role="sys", role_type="system", content="be nice"),
            Message(role="calculator", role_type="tool", content="42"),
        ],
    )
    history.refresh()
    back = history.messages
    assert back[0] == HumanMessage("first")
    assert isinstance(back[1], HumanMessage) and back[1].content == "hello"
    assert back[1].name == "Jane"
    assert isinstance(back[2], AIMessage) and back[2].content == "hi Jane" and back[2].name is None
    assert isinstance(back[3], SystemMessage) and back[3].name == "sys"
    assert isinstance(back[4], ChatMessage) and back[4].role == "calculator"
    assert back[1].id is not None  # the Zep uuid


def test_first_write_creates_user_and_session_with_metadata(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(
        session_id="s1", user_id="ann", client=client, session_metadata={"topic": "trips"}
    )
    assert history.messages == []
    assert client.stats.writes == 0, "reading must not create anything"
    history.add_message(HumanMessage("hi"))
    assert client.user.get("ann").user_id == "ann"
    session = client.memory.get_session("s1")
    assert session.user_id == "ann"
    assert session.metadata == {"topic": "trips"}
    assert [s.session_id for s in client.user.get_sessions("ann")] == ["s1"]


def test_existing_user_is_reused(client: ZepMemoryClient) -> None:
    from zep_memory_plugins import CreateUserRequest

    client.user.add(CreateUserRequest(user_id="ann", email="ann@example.com"))
    ZepChatMessageHistory(session_id="s1", user_id="ann", client=client).add_messages(
        [HumanMessage("hi")]
    )
    assert client.user.get("ann").email == "ann@example.com"
    assert client.memory.get_session("s1").user_id == "ann"


def test_users_never_see_each_other(client: ZepMemoryClient) -> None:
    ann = ZepChatMessageHistory(session_id="ann-chat", user_id="ann", client=client)
    bob = ZepChatMessageHistory(session_id="bob-chat", user_id="bob", client=client)
    ann.add_messages([HumanMessage("ann's secret")])
    bob.add_messages([HumanMessage("bob's secret")])
    assert ann.messages == [HumanMessage("ann's secret")]
    assert bob.messages == [HumanMessage("bob's secret")]
    # Bob asking for Ann's session: read, write and clear are all refused, nothing changes.
    intruder = ZepChatMessageHistory(session_id="ann-chat", user_id="bob", client=client)
    with pytest.raises(SessionOwnershipError) as info:
        _ = intruder.messages
    assert "ann" not in str(info.value).replace("'ann-chat'", "")  # the owner is not revealed
    with pytest.raises(SessionOwnershipError):
        intruder.add_messages([HumanMessage("let me in")])
    with pytest.raises(SessionOwnershipError):
        intruder.clear()
    assert ZepChatMessageHistory(session_id="ann-chat", user_id="ann", client=client).messages == [
        HumanMessage("ann's secret")
    ]


def test_ownership_checked_by_a_new_client(open_client: Callable[[], ZepMemoryClient]) -> None:
    ZepChatMessageHistory(session_id="s1", user_id="ann", client=open_client()).add_messages(
        [HumanMessage("mine")]
    )
    other = open_client()
    with pytest.raises(SessionOwnershipError):
        ZepChatMessageHistory(session_id="s1", user_id="bob", client=other).add_messages(
            [HumanMessage("theirs?")]
        )
    with pytest.raises(SessionOwnershipError):
        _ = ZepChatMessageHistory(session_id="s1", user_id="bob", client=open_client()).messages
    assert other.memory.get_messages("s1")[0].content == "mine"


async def test_ownership_async(client: ZepMemoryClient) -> None:
    await ZepChatMessageHistory(session_id="s1", user_id="ann", client=client).aadd_messages(
        [HumanMessage("mine")]
    )
    fresh = ZepMemoryClient(backend=client.backend)  # same backend, nothing verified yet
    intruder = ZepChatMessageHistory(session_id="s1", user_id="bob", client=fresh)
    with pytest.raises(SessionOwnershipError):
        await intruder.aget_messages()
    with pytest.raises(SessionOwnershipError):
        await intruder.aadd_messages([HumanMessage("x")])
    with pytest.raises(SessionOwnershipError):
        await intruder.aclear()


def test_session_without_owner_is_refused(client: ZepMemoryClient) -> None:
    client.memory.add_messages("orphan", [Message(role="user", content="nobody's")])
    history = ZepChatMessageHistory(session_id="orphan", user_id="ann", client=client)
    with pytest.raises(SessionOwnershipError, match="no user"):
        _ = history.messages


def test_window(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client, window=3)
    sent = [HumanMessage(f"m{i}") for i in range(7)]
    history.add_messages(sent)
    assert history.messages == sent[-3:]
    full = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    assert full.messages == sent


def test_a_window_read_each_turn_sees_what_another_writer_changed(client: ZepMemoryClient) -> None:
    # A window read remembers the last read's conversions; one whose stored message changed
    # (its metadata updated by another process, say) is made again.
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client, window=2)
    history.add_messages([HumanMessage("q"), AIMessage("a")])
    assert history.messages == [HumanMessage("q"), AIMessage("a")]
    answer = client.memory.get_messages("s1")[-1].uuid
    edited = AIMessage("edited", id="edit-1")
    client.memory.update_message_metadata(
        "s1", answer, {LANGCHAIN_MESSAGE_KEY: pack_json(message_to_dict(edited))}
    )
    history.refresh()
    assert history.messages == [HumanMessage("q"), edited]
    history.add_messages([HumanMessage("q2"), AIMessage("a2")])
    assert history.messages == [HumanMessage("q2"), AIMessage("a2")]
    got = history.messages
    got[0].content = "changed by the caller"  # what the caller gets is its own
    history.refresh()
    assert history.messages == [HumanMessage("q2"), AIMessage("a2")]


def test_a_window_read_hands_out_messages_of_the_callers_own(client: ZepMemoryClient) -> None:
    # Messages with ids, and what they hold in dicts and lists, edited in place by a caller:
    # no later read, through this history or another, sees the edits.
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client, window=3)
    calls = [{"name": "f", "args": {"x": [1]}, "id": "c1", "type": "tool_call"}]
    sent = [HumanMessage("hi", id="h1"), AIMessage("", id="a1", tool_calls=calls)]
    history.add_messages(sent)
    first = history.messages
    assert first == sent
    first[0].content = "edited"
    first[0].additional_kwargs["x"] = 1
    first[1].tool_calls[0]["args"]["x"].append(2)
    history.refresh()
    assert history.messages == sent
    other = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client, window=3)
    assert other.messages == sent


def test_clear_is_a_soft_delete_and_writes_revive(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(
        session_id="s1", user_id="ann", client=client, session_metadata={"k": 1}
    )
    history.add_messages([HumanMessage("old")])
    history.clear()
    assert history.messages == []
    assert client.memory.get_messages("s1") == []
    history.clear()  # clearing twice is fine
    history.add_messages([HumanMessage("new")])
    assert history.messages == [HumanMessage("new")]
    assert client.memory.get_session("s1").user_id == "ann"


async def test_aclear(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    await history.aadd_messages([HumanMessage("old")])
    await history.aclear()
    assert await history.aget_messages() == []
    await history.aclear()
    await history.aadd_messages([HumanMessage("new")])
    assert await history.aget_messages() == [HumanMessage("new")]


def test_cleared_session_revived_by_a_new_client(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    ZepChatMessageHistory(session_id="s1", user_id="ann", client=open_client()).add_messages(
        [HumanMessage("old")]
    )
    ZepChatMessageHistory(session_id="s1", user_id="ann", client=open_client()).clear()
    later = open_client()
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=later)
    assert history.messages == []
    history.add_messages([HumanMessage("new")])
    assert history.messages == [HumanMessage("new")]
    session = later.memory.get_session("s1")
    assert session.user_id == "ann"
    assert REVIVED_SESSION_KEY in (session.metadata or {})
    # Another user cannot take over a deleted session either.
    ZepChatMessageHistory(session_id="s1", user_id="ann", client=later).clear()
    with pytest.raises(SessionOwnershipError):
        ZepChatMessageHistory(session_id="s1", user_id="bob", client=open_client()).add_messages(
            [HumanMessage("mine now?")]
        )


def test_clear_of_unknown_session_does_nothing(client: ZepMemoryClient) -> None:
    ZepChatMessageHistory(session_id="nope", user_id="ann", client=client).clear()
    assert client.stats.writes == 0


def test_cache_served_once_and_dropped_on_write(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    history.add_messages([HumanMessage("a")])
    client.stats.reset()
    assert history.messages == [HumanMessage("a")]
    assert history.messages == [HumanMessage("a")]
    assert client.stats.calls["get_messages"] == 1
    history.add_messages([AIMessage("b")])
    assert history.messages == [HumanMessage("a"), AIMessage("b")]  # never stale after a write
    assert client.stats.calls["get_messages"] == 2
    returned = history.messages
    returned.append(HumanMessage("not stored"))
    assert history.messages == [HumanMessage("a"), AIMessage("b")]


def test_one_write_per_batch(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    history.add_messages([HumanMessage("warm up")])
    client.stats.reset()
    history.add_messages(every_message_type())
    assert client.stats.snapshot()["calls"] == {"add_messages": 1}
    history.add_messages([])
    assert client.stats.writes == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"session_id": "", "user_id": "ann"}, "session_id"),
        ({"session_id": "s", "user_id": "a/b"}, "user_id"),
        ({"session_id": "s", "user_id": 3}, "user_id"),
        ({"session_id": "s", "user_id": "ann", "window": 0}, "window"),
        ({"session_id": "s", "user_id": "ann", "window": True}, "window"),
        ({"session_id": "s", "user_id": "ann", "session_metadata": ["x"]}, "session_metadata"),
    ],
)
def test_bad_arguments(client: ZepMemoryClient, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        ZepChatMessageHistory(client=client, **kwargs)
    assert info.value.field == field


def test_bad_messages_store_nothing(client: ZepMemoryClient) -> None:
    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    history.add_messages([HumanMessage("kept")])
    with pytest.raises(InvalidInputError):
        history.add_messages([HumanMessage("fine"), "not a message"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        history.add_messages([HumanMessage("x", additional_kwargs={"blob": b"bytes"})])
    with pytest.raises(InvalidInputError):
        history.add_messages(HumanMessage("not a list"))  # type: ignore[arg-type]
    assert history.messages == [HumanMessage("kept")]


def test_default_client_is_embedded(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEP_API_URL", raising=False)
    monkeypatch.delenv("ZEP_API_KEY", raising=False)
    monkeypatch.setenv("ZEP_MEMORY_PATH", str(tmp_path / "default.db"))
    history = ZepChatMessageHistory(session_id="s1", user_id="ann")
    try:
        assert history.client.backend.name == "embedded"
        history.add_messages([HumanMessage("hi")])
        assert history.messages == [HumanMessage("hi")]
    finally:
        history.close()
    assert (tmp_path / "default.db").exists()


@pytest.mark.parametrize(
    "payload",
    [
        pack_json({"type": "martian", "data": {"content": "x"}}),
        "junk",
        pack_json({"type": "human"}),
    ],
)
def test_corrupt_stored_message_is_a_typed_error(client: ZepMemoryClient, payload: Any) -> None:
    from zep_memory_plugins import BackendError

    history = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client)
    history.add_messages([HumanMessage("fine")])
    client.memory.add_messages(
        "s1", [Message(role="x", content="x", metadata={LANGCHAIN_MESSAGE_KEY: payload})]
    )
    with pytest.raises(BackendError, match=LANGCHAIN_MESSAGE_KEY):
        _ = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client).messages
