"""ZepMemory: chat engines, call budget per turn, windows, set/reset, ownership, isolation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import ChatMessage, MockLLM

from zep_memory_plugins import (
    InvalidInputError,
    Session,
    SessionOwnershipError,
    ZepMemoryClient,
)
from zep_memory_plugins._context import Tail
from zep_memory_plugins.llama_index import ZepMemory


def engine(memory: ZepMemory) -> SimpleChatEngine:
    return SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=3), memory=memory)


def test_thirty_turns_all_sixty_messages_in_order_one_read_one_write_per_turn(
    open_client: Callable[[], ZepMemoryClient], backend_name: str
) -> None:
    client = open_client()
    memory = ZepMemory(client, "jane", "chat-1", token_limit=100_000)
    chat = engine(memory)
    sent: list[ChatMessage] = []
    for turn in range(30):
        client.stats.reset()
        response = chat.chat(f"question {turn}")
        assert response.response == "text text text"
        sent += [
            ChatMessage(role="user", content=f"question {turn}"),
            ChatMessage(role="assistant", content="text text text"),
        ]
        if turn == 0:
            # first turn: the session is looked up once; adding it fails for want of a user,
            # which is then created, and the session with it
            assert client.stats.calls == {
                "get_session": 1,
                "add_user": 1,
                "add_session": 2,
                "add_messages": 1,
            }
        else:
            assert client.stats.calls == {"get_messages": 1, "add_messages": 1}
            assert (client.stats.reads, client.stats.writes) == (1, 1)
            if backend_name != "embedded":
                assert client.stats.http_requests == 2
    assert memory.get_all() == sent
    # a new client (a new process) reads the same 60 messages, equal to what was sent
    other = open_client()
    assert ZepMemory(other, "jane", "chat-1").get_all() == sent
    # ... and Zep sees natural messages
    stored = other.memory.get_messages("chat-1")
    assert [(m.role_type, m.content) for m in stored[:2]] == [
        ("user", "question 0"),
        ("assistant", "text text text"),
    ]


async def test_async_chat_engine_turns(client: ZepMemoryClient) -> None:
    memory = ZepMemory(client, "jane", "chat-a")
    chat = engine(memory)
    await chat.achat("one")
    client.stats.reset()
    await chat.achat("two")
    assert client.stats.calls == {"get_messages": 1, "add_messages": 1}
    assert [m.content for m in await memory.aget_all()] == [
        "one",
        "text text text",
        "two",
        "text text text",
    ]


def test_persists_across_clients(open_client: Callable[[], ZepMemoryClient]) -> None:
    first = open_client()
    engine(ZepMemory(first, "jane", "c")).chat("remember me")
    first.close()
    second = open_client()
    memory = ZepMemory(second, "jane", "c")
    assert [m.content for m in memory.get_all()] == ["remember me", "text text text"]
    engine(memory).chat("again")
    assert len(ZepMemory(open_client(), "jane", "c").get_all()) == 4


def test_put_messages_is_one_call_and_carries_held_user_message(client: ZepMemoryClient) -> None:
    memory = ZepMemory(client, "jane", "s")
    memory.put(ChatMessage(role="user", content="q"))
    assert client.stats.writes == 0
    assert memory.pending == [ChatMessage(role="user", content="q")]
    assert [m.content for m in memory.get_all()] == ["q"]  # held messages are visible
    batch = [ChatMessage(role="assistant", content=f"a{i}") for i in range(5)]
    memory.put_messages(batch)
    assert client.stats.calls["add_messages"] == 1
    assert memory.pending == []
    assert [m.content for m in client.memory.get_messages("s")] == [
        "q",
        "a0",
        "a1",
        "a2",
        "a3",
        "a4",
    ]
    client.stats.reset()
    memory.put_messages(
        [ChatMessage(role="user", content="x"), ChatMessage(role="user", content="y")]
    )
    assert client.stats.calls == {"add_messages": 1}


async def test_flush_and_write_through(client: ZepMemoryClient) -> None:
    memory = ZepMemory(client, "jane", "s")
    await memory.aput(ChatMessage(role="user", content="q"))
    await memory.aflush()
    assert [m.content for m in await client.memory.aget_messages("s")] == ["q"]
    memory.put(ChatMessage(role="user", content="r"))
    memory.flush()
    eager = ZepMemory(client, "jane", "s2", defer_user_messages=False)
    eager.put(ChatMessage(role="user", content="now"))
    await eager.aput(ChatMessage(role="user", content="now too"))
    assert [m.content for m in client.memory.get_messages("s2")] == ["now", "now too"]
    assert [m.content for m in client.memory.get_messages("s")] == ["q", "r"]


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_get_window_token_limit_and_initial_tokens(
    client: ZepMemoryClient, mode: str
) -> None:
    history = []
    for i in range(6):
        history += [
            ChatMessage(role="user", content=f"user {i} " + "word " * 10),
            ChatMessage(role="assistant", content=f"assistant {i} " + "word " * 10),
        ]
    memory = ZepMemory(client, "jane", "s", token_limit=60)

    async def get(m: ZepMemory, **kw: int) -> list[ChatMessage]:
        return m.get(**kw) if mode == "sync" else await m.aget(**kw)

    memory.put_messages(history)
    got = await get(memory)
    assert 0 < len(got) < len(history)
    assert got == history[-len(got) :]
    assert got[0].role == "user"  # never starts on an assistant reply
    fewer = await get(memory, initial_token_count=30)
    assert len(fewer) < len(got) and fewer == history[-len(fewer) :]
    with pytest.raises(InvalidInputError):
        await get(memory, initial_token_count=61)
    # no whole turn fits: nothing rather than a lone assistant reply (issue 12)
    assert await get(ZepMemory(client, "jane", "s", token_limit=1)) == []
    # a last-N window reads only N messages from the store, and starts on a user message
    windowed = ZepMemory(client, "jane", "s", token_limit=100_000, last_n=3)
    assert await get(windowed) == history[-2:]
    windowed.put(ChatMessage(role="user", content="held"))
    assert await get(windowed) == [*history[-2:], ChatMessage(role="user", content="held")]
    # get_all ignores the limits
    assert windowed.get_all()[:-1] == history


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_set_replaces_and_reset_soft_deletes(client: ZepMemoryClient, mode: str) -> None:
    memory = ZepMemory(client, "jane", "s", defer_user_messages=False)
    memory.put_messages(
        [ChatMessage(role="user", content="old"), ChatMessage(role="assistant", content="old a")]
    )
    new = [ChatMessage(role="system", content="sys"), ChatMessage(role="user", content="new")]
    if mode == "sync":
        memory.set(new)
    else:
        await memory.aset(new)
    assert memory.get_all() == new
    assert [s.session_id for s in client.user.get_sessions("jane")] == ["s"]
    assert client.memory.get_session("s").user_id == "jane"
    memory.put(ChatMessage(role="assistant", content="after"))
    assert [m.content for m in memory.get_all()] == ["sys", "new", "after"]
    if mode == "sync":
        memory.reset()
        memory.reset()  # resetting an empty memory is fine
    else:
        await memory.areset()
        await memory.areset()
    assert memory.get_all() == []
    assert client.user.get_sessions("jane") == []
    memory.put(ChatMessage(role="assistant", content="revived"))
    assert [m.content for m in memory.get_all()] == ["revived"]
    assert client.memory.get_session("s").user_id == "jane"


def test_chat_engine_chat_history_replaces_memory(client: ZepMemoryClient) -> None:
    memory = ZepMemory(client, "jane", "s")
    chat = engine(memory)
    chat.chat("first")
    chat.chat("second", chat_history=[ChatMessage(role="user", content="seed")])
    assert [m.content for m in memory.get_all()] == ["seed", "second", "text text text"]
    chat.reset()
    assert memory.get_all() == []


def test_from_defaults_and_chat_history(client: ZepMemoryClient) -> None:
    history = [ChatMessage(role="user", content="hi"), ChatMessage(role="assistant", content="yo")]
    memory = ZepMemory.from_defaults(
        client=client,
        user_id="jane",
        session_id="s",
        chat_history=history,
        session_metadata={"topic": "x"},
    )
    assert memory.get_all() == history
    assert client.memory.get_session("s").metadata == {"topic": "x"}
    assert "jane" in repr(memory) and "hi" not in repr(memory)


async def test_another_users_session_is_refused_and_untouched(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    client = open_client()
    ZepMemory(client, "jane", "private", defer_user_messages=False).put(
        ChatMessage(content="secret")
    )
    client.memory.add_session(Session(session_id="orphan"))
    for c in (client, open_client()):  # cached ownership and a fresh process
        bob = ZepMemory(c, "bob", "private")
        with pytest.raises(SessionOwnershipError) as err:
            bob.get()
        assert "jane" not in str(err.value)
        with pytest.raises(SessionOwnershipError):
            await bob.aget_all()
        with pytest.raises(SessionOwnershipError):
            bob.put_messages([ChatMessage(content="intrusion")])
        with pytest.raises(SessionOwnershipError):
            await bob.aset([])
        with pytest.raises(SessionOwnershipError):
            bob.reset()
        with pytest.raises(SessionOwnershipError):
            ZepMemory(c, "bob", "orphan").get_all()
    assert [m.content for m in client.memory.get_messages("private")] == ["secret"]


def test_two_users_are_isolated(client: ZepMemoryClient) -> None:
    jane = engine(ZepMemory(client, "jane", "jane-chat"))
    bob = engine(ZepMemory(client, "bob", "bob-chat"))
    jane.chat("I am Jane")
    bob.chat("I am Bob")
    jane.chat("still Jane")
    assert [
        m.content for m in ZepMemory(client, "jane", "jane-chat").get_all() if m.role == "user"
    ] == [
        "I am Jane",
        "still Jane",
    ]
    assert [
        m.content for m in ZepMemory(client, "bob", "bob-chat").get_all() if m.role == "user"
    ] == ["I am Bob"]
    assert [s.session_id for s in client.user.get_sessions("bob")] == ["bob-chat"]


def test_bad_input_is_a_typed_error(client: ZepMemoryClient) -> None:
    with pytest.raises(InvalidInputError):
        ZepMemory(client, "", "s")
    with pytest.raises(InvalidInputError):
        ZepMemory(client, "jane", "a/b")
    with pytest.raises(InvalidInputError):
        ZepMemory("not a client", "jane", "s")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        ZepMemory(client, "jane", "s", token_limit=0)
    memory = ZepMemory(client, "jane", "s")
    with pytest.raises(InvalidInputError):
        memory.put("hello")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        memory.put_messages([ChatMessage(content="ok"), "no"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        memory.put(ChatMessage(content="x", additional_kwargs={"bad": object()}))
    assert client.stats.writes == 0 and memory.pending == []


def test_failed_write_keeps_the_held_user_message(
    backend_name: str, request: pytest.FixtureRequest
) -> None:
    if backend_name == "embedded":
        pytest.skip(
            "needs the test server's fault injection; the embedded store cannot fail a write"
        )
    from zep_memory_plugins import ServerError

    server = request.getfixturevalue("server_of")()
    client = ZepMemoryClient(base_url=server.api_url, api_key=server.api_key, max_retries=0)
    try:
        memory = ZepMemory(client, "jane", "s")
        chat = engine(memory)
        chat.chat("first")
        server.faults.add("POST", request.getfixturevalue("write_route"), status=500, times=1)
        with pytest.raises(ServerError):
            chat.chat("second")
        assert memory.pending == [ChatMessage(role="user", content="second")]
        chat.chat("third")  # the held message is written with the next turn
        assert [
            m.content for m in ZepMemory(client, "jane", "s").get_all() if m.role == "user"
        ] == [
            "first",
            "second",
            "third",
        ]
    finally:
        client.close()


def test_other_writers_are_seen_by_a_memory_that_already_read(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    mine, theirs = open_client(), open_client()
    memory = ZepMemory(mine, "jane", "shared", token_limit=100_000)
    other = ZepMemory(theirs, "jane", "shared", defer_user_messages=False)
    memory.put_messages([ChatMessage(content=f"m{i}") for i in range(120)])
    assert len(memory.get()) == 120
    other.put(ChatMessage(content="from elsewhere"))
    assert memory.get()[-1].content == "from elsewhere"
    mine.stats.reset()
    assert len(memory.get_all()) == 121
    assert mine.stats.calls == {"get_messages": 1}  # a whole history of 121, one request
    other.reset()  # another process clears the session
    assert memory.get_all() == []
    other.put(ChatMessage(content="fresh start"))
    assert [m.content for m in memory.get_all()] == ["fresh start"]


def test_get_counts_each_stored_message_once_and_hands_out_copies(
    client: ZepMemoryClient,
) -> None:
    # A long history is read every turn: its messages are decoded and counted once while the
    # client's history cache holds the session, and what get/get_all return is the caller's.
    counted: list[str] = []

    def words(text: str) -> list[str]:
        counted.append(text)
        return text.split()

    history = []
    for i in range(5):
        history += [
            ChatMessage(role="user", content=f"question {i}"),
            ChatMessage(role="assistant", content=f"answer {i}", additional_kwargs={"n": [i]}),
        ]
    memory = ZepMemory(client, "jane", "counted", token_limit=100_000, tokenizer_fn=words)
    memory.put_messages(history)
    assert memory.get() == history
    assert sorted(counted) == sorted(m.content for m in history)
    counted.clear()
    got = memory.get()
    assert got == history and counted == []  # nothing counted again
    got[-1].blocks[0].text = "edited"  # type: ignore[attr-defined]
    got[-1].additional_kwargs["n"].append("edited")
    everything = memory.get_all()
    assert everything == history
    everything[0].blocks[0].text = "edited too"  # type: ignore[attr-defined]
    assert memory.get() == history and memory.get_all() == history
    # a turn later, only its two new messages are counted
    turn = [
        ChatMessage(role="user", content="one more"),
        ChatMessage(content="ok", role="assistant"),
    ]
    memory.put_messages(turn)
    assert memory.get() == [*history, *turn]
    assert sorted(counted) == ["ok", "one more"]


def test_a_turn_looks_only_at_the_newest_messages(client: ZepMemoryClient) -> None:
    # A long history: get() decodes and counts only as many of the newest messages as the
    # token limit needs (one run of Tail.FIRST_RUN here), never the whole history.
    history = []
    for i in range(150):
        history += [
            ChatMessage(role="user", content=f"question {i}"),
            ChatMessage(role="assistant", content=f"answer {i}"),
        ]
    ZepMemory(client, "jane", "long", token_limit=100_000).put_messages(history)
    counted: list[str] = []

    def words(text: str) -> list[str]:
        counted.append(text)
        return text.split()

    memory = ZepMemory(client, "jane", "long", token_limit=20, tokenizer_fn=words)
    assert memory.get() == history[-10:]  # two tokens a message
    assert len(counted) == Tail.FIRST_RUN
    assert counted[-1] == "answer 149"
    counted.clear()
    memory.put_messages([ChatMessage(role="user", content="q"), ChatMessage(content="a")])
    assert memory.get() == [
        *history[-8:],
        ChatMessage(role="user", content="q"),
        ChatMessage(content="a"),
    ]
    assert sorted(counted) == ["a", "q"]


def test_held_user_messages_past_the_window_and_past_a_run(client: ZepMemoryClient) -> None:
    stored = [
        ChatMessage(role="user", content="u1"),
        ChatMessage(role="assistant", content="a1"),
        ChatMessage(role="user", content="u2"),
        ChatMessage(role="assistant", content="a2"),
    ]
    ZepMemory(client, "jane", "held", defer_user_messages=False).put_messages(stored)
    held = [ChatMessage(role="user", content=f"h{i}") for i in range(40)]
    # more held messages than the window: the window holds only the newest of them
    memory = ZepMemory(client, "jane", "held", last_n=1, tokenizer_fn=str.split)
    for message in held[:2]:
        memory.put(message)
    assert memory.get() == held[1:2]
    memory = ZepMemory(client, "jane", "held", last_n=3, tokenizer_fn=str.split)
    for message in held[:2]:
        memory.put(message)
    assert memory.get() == held[:2]  # the window would start on a2: it starts after it
    # more held messages than one run of the tail, one token each: they all go, and what
    # stored turns still fit
    memory = ZepMemory(client, "jane", "held", token_limit=42, tokenizer_fn=str.split)
    for message in held:
        memory.put(message)
    assert memory.get() == [stored[2], stored[3], *held]
    tight = ZepMemory(client, "jane", "held", token_limit=39, tokenizer_fn=str.split)
    for message in held:
        tight.put(message)
    with pytest.raises(InvalidInputError, match="does not fit token_limit=39: it takes 40"):
        tight.get()


def test_a_memory_with_another_tokenizer_counts_afresh(client: ZepMemoryClient) -> None:
    history = []
    for i in range(4):
        history += [
            ChatMessage(role="user", content=f"question {i}"),
            ChatMessage(role="assistant", content=f"answer {i}"),
        ]
    small = ZepMemory(client, "jane", "s", token_limit=1_000, tokenizer_fn=str.split)
    small.put_messages(history)
    assert small.get() == history  # two tokens a message: everything fits
    # the same session and client, counted by another tokenizer: 400 tokens a message
    big = ZepMemory(client, "jane", "s", token_limit=1_000, tokenizer_fn=lambda t: [t] * 400)
    assert big.get() == history[-2:]
    assert small.get() == history  # and counted again its own way
