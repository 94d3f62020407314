"""ZepDBChatStore under llama_index.core.memory.Memory: statuses, archiving, blocks, owners."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import ChatMessage, MockLLM
from llama_index.core.memory import InsertMethod, Memory, StaticMemoryBlock
from llama_index.core.storage.chat_store.base_db import MessageStatus
from llama_index.core.storage.chat_store.sql import SQLAlchemyChatStore

from zep_memory_plugins import InvalidInputError, Session, SessionOwnershipError, ZepMemoryClient
from zep_memory_plugins._history_cache import history_cache
from zep_memory_plugins.llama_index import (
    LLAMA_INDEX_ARCHIVED_THROUGH_KEY,
    LLAMA_INDEX_STATUS_KEY,
    ZepDBChatStore,
    ZepMemory,
    ZepSessionsBlock,
)
from zep_memory_plugins.llama_index._convert import to_zep_message

ACTIVE, ARCHIVED = MessageStatus.ACTIVE, MessageStatus.ARCHIVED


def m(text: str, role: str = "user") -> ChatMessage:
    return ChatMessage(role=role, content=text)


def texts(messages: list[ChatMessage]) -> list[str]:
    return [str(x.content) for x in messages]


@pytest.mark.parametrize("kind", ["zep", "sqlalchemy"])
async def test_store_methods_mean_what_the_sqlalchemy_store_means(
    client: ZepMemoryClient, kind: str
) -> None:
    # The same script runs on LlamaIndex's own SQLAlchemyChatStore, the reference.
    s = ZepDBChatStore(client, "jane") if kind == "zep" else SQLAlchemyChatStore(table_name="t")
    assert await s.get_messages("k") == []
    assert await s.count_messages("k") == 0
    assert await s.get_keys() == []
    await s.add_messages("k", [m("1"), m("2", "assistant"), m("3"), m("4", "assistant")])
    await s.add_message("k", m("5"))
    await s.add_message("k", m("old"), status=ARCHIVED)
    assert texts(await s.get_messages("k")) == ["1", "2", "3", "4", "5"]
    assert texts(await s.get_messages("k", status=ARCHIVED)) == ["old"]
    assert texts(await s.get_messages("k", status=None)) == ["1", "2", "3", "4", "5", "old"]
    assert texts(await s.get_messages("k", limit=2, offset=1)) == ["2", "3"]
    assert (await s.count_messages("k"), await s.count_messages("k", status=None)) == (5, 6)

    assert texts(await s.archive_oldest_messages("k", 2)) == ["1", "2"]
    assert texts(await s.get_messages("k")) == ["3", "4", "5"]
    assert texts(await s.get_messages("k", status=ARCHIVED)) == ["1", "2", "old"]
    assert texts(await s.archive_oldest_messages("k", 1)) == ["3"]
    assert texts(await s.get_messages("k")) == ["4", "5"]
    assert await s.archive_oldest_messages("k", 0) == []

    assert texts(await s.delete_oldest_messages("k", 1)) == ["4"]
    assert texts(await s.get_messages("k", status=None)) == ["1", "2", "3", "5", "old"]
    assert texts(await s.get_messages("k", status=ARCHIVED)) == ["1", "2", "3", "old"]

    await s.delete_messages("k", status=ARCHIVED)
    assert texts(await s.get_messages("k", status=None)) == ["5"]
    await s.set_messages("k", [m("a"), m("b")], status=ARCHIVED)
    assert texts(await s.get_messages("k", status=ARCHIVED)) == ["a", "b"]
    assert await s.get_messages("k") == []
    await s.add_messages("j", [m("j1")])
    assert sorted(await s.get_keys()) == ["j", "k"]
    await s.delete_messages("k")
    assert await s.get_messages("k", status=None) == []
    assert await s.get_keys() == ["j"]


async def test_delete_message_by_position_keeps_statuses(client: ZepMemoryClient) -> None:
    s = ZepDBChatStore(client, "jane")
    await s.add_messages("k", [m("1"), m("2"), m("3"), m("4")])
    await s.archive_oldest_messages("k", 2)
    assert await s.delete_message("k", 0) == m("1")
    assert await s.delete_message("k", 9) is None
    assert texts(await s.get_messages("k", status=ARCHIVED)) == ["2"]
    assert texts(await s.get_messages("k")) == ["3", "4"]
    stored = client.memory.get_messages("k")
    assert [x.metadata[LLAMA_INDEX_STATUS_KEY] for x in stored] == ["archived", "active", "active"]  # type: ignore[index]


async def test_archiving_is_one_read_and_one_write(client: ZepMemoryClient) -> None:
    s = ZepDBChatStore(client, "jane")
    await s.add_messages("k", [m(str(i)) for i in range(20)])
    client.stats.reset()
    assert len(await s.archive_oldest_messages("k", 15)) == 15
    assert client.stats.calls == {"get_messages": 1, "update_message_metadata": 1}
    marked = [
        x
        for x in client.memory.get_messages("k")
        if LLAMA_INDEX_ARCHIVED_THROUGH_KEY in (x.metadata or {})
    ]
    assert [x.content for x in marked] == ["14"]


async def test_memory_persists_statuses_across_a_fresh_client(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    client = open_client()
    memory = Memory.from_defaults(
        session_id="conv",
        chat_store=ZepDBChatStore(client, "jane"),
        token_limit=120,
        token_flush_size=40,
    )
    chat = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=5), memory=memory)
    for turn in range(8):
        await chat.achat(f"turn {turn} " + "blah " * 10)
    everything = await memory.aget_all()
    assert len(everything) == 16
    active = await memory.sql_store.get_messages("conv", status=ACTIVE)
    archived = await memory.sql_store.get_messages("conv", status=ARCHIVED)
    assert archived and active  # Memory pushed its oldest turns out of the FIFO queue
    assert archived + active == everything
    assert active[0].role == "user"

    again = Memory.from_defaults(
        session_id="conv", chat_store=ZepDBChatStore(open_client(), "jane")
    )
    assert await again.aget_all() == everything
    assert await again.aget_all(status=ARCHIVED) == archived
    assert await again.aget() == active
    assert again.get() == active  # the sync wrappers too
    assert client.memory.get_session("conv").user_id == "jane"
    await again.areset()
    assert await memory.aget_all() == []


async def test_memory_from_defaults_chat_history_and_put_messages(client: ZepMemoryClient) -> None:
    store = ZepDBChatStore(client, "jane", session_metadata={"via": "Memory"})
    memory = Memory.from_defaults(session_id="h", chat_store=store)
    await memory.aset([m("seed"), m("reply", "assistant")])
    client.stats.reset()
    await memory.aput_messages([m("q"), m("a", "assistant")])
    assert client.stats.calls["add_messages"] == 1
    assert texts(await memory.aget()) == ["seed", "reply", "q", "a"]
    assert client.memory.get_session("h").metadata == {"via": "Memory"}


async def test_other_users_sessions_are_refused(client: ZepMemoryClient) -> None:
    await ZepDBChatStore(client, "jane").add_message("k", m("mine"))
    client.memory.add_session(Session(session_id="nobody"))
    bob = ZepDBChatStore(client, "bob")
    for key in ("k", "nobody"):
        with pytest.raises(SessionOwnershipError):
            await bob.get_messages(key)
        with pytest.raises(SessionOwnershipError):
            await bob.add_messages(key, [m("x")])
        with pytest.raises(SessionOwnershipError):
            await bob.delete_messages(key)
        with pytest.raises(SessionOwnershipError):
            await bob.archive_oldest_messages(key, 1)
    with pytest.raises(SessionOwnershipError):
        await Memory.from_defaults(session_id="k", chat_store=bob).aget()
    assert texts(await ZepDBChatStore(client, "jane").get_messages("k")) == ["mine"]


async def test_bad_input(client: ZepMemoryClient) -> None:
    s = ZepDBChatStore(client, "jane")
    with pytest.raises(InvalidInputError):
        await s.get_messages("k", status="gone")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await s.add_messages("k", [m("x")], status=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await s.archive_oldest_messages("k", "2")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        await s.add_messages("", [m("x")])
    assert client.stats.writes == 0


async def test_sessions_block_brings_other_sessions_into_context(client: ZepMemoryClient) -> None:
    old = ZepMemory(client, "jane", "trip", session_metadata={"topic": "Lisbon trip"})
    old.put_messages([m("I land on Friday"), m("Noted: Friday.", "assistant")])
    ZepMemory(client, "bob", "bobs").put_messages([m("bob's secret")])
    memory = Memory.from_defaults(
        session_id="today",
        chat_store=ZepDBChatStore(client, "jane"),
        memory_blocks=[ZepSessionsBlock(client, "jane", messages_per_session=2)],
    )
    await memory.aput(m("When do I land?"))
    messages = await memory.aget()
    system = messages[0]
    assert system.role == "system"
    text = str(system.content)
    assert "<zep_sessions>" in text and "Session trip" in text and "Lisbon trip" in text
    assert "I land on Friday" in text and "Noted: Friday." in text
    assert "today" not in text.split("<zep_sessions>")[1]  # the current session is left out
    assert "bob" not in text
    assert texts(messages[1:]) == ["When do I land?"]
    # nothing else to recall: no block
    lone = Memory.from_defaults(
        session_id="x",
        chat_store=ZepDBChatStore(client, "zoe"),
        memory_blocks=[ZepSessionsBlock(client, "zoe")],
    )
    await lone.aput(m("hi"))
    assert texts(await lone.aget()) == ["hi"]


async def test_a_memory_turn_is_one_read_and_two_writes_and_never_stale(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    client = open_client()
    memory = Memory.from_defaults(session_id="conv", chat_store=ZepDBChatStore(client, "jane"))
    chat = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=3), memory=memory)
    await chat.achat("first")
    client.stats.reset()
    await chat.achat("second")
    # aget() reads; each aput() writes and reads again: that read is answered from the write
    assert client.stats.calls == {"get_messages": 1, "add_messages": 2}

    other = ZepDBChatStore(open_client(), "jane")  # another process writes between two turns
    await other.add_message("conv", m("from elsewhere"))
    history = await memory.aget()
    assert texts(history)[-1] == "from elsewhere"
    await chat.achat("third")
    assert texts(await memory.aget_all())[-3] == "from elsewhere"
    assert len(await memory.aget_all()) == 7


async def test_a_memory_turn_is_at_most_three_requests_at_any_length(
    client: ZepMemoryClient,
) -> None:
    # 1 read + 2 writes; on Zep the read is one tail request once the session is held.
    store = ZepDBChatStore(client, "jane")
    memory = Memory.from_defaults(session_id="long", chat_store=store, token_limit=100_000)
    chat = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=2), memory=memory)
    await store.add_message("long", m("hello"))  # the session is jane's
    history = [m(f"old {i}", "user" if i % 2 == 0 else "assistant") for i in range(250)]
    for start in range(0, 250, 25):
        client.memory.add_messages("long", [to_zep_message(x) for x in history[start : start + 25]])
    await chat.achat("warm up")
    for turn in range(3):
        client.stats.reset()
        await chat.achat(f"turn {turn}")
        assert client.stats.reads <= 1 and client.stats.writes <= 2, client.stats.snapshot()
        if client.backend.name.startswith("zep"):
            assert client.stats.http_requests <= 3, client.stats.snapshot()
    assert len(await store.get_messages("long", None)) == 250 + 1 + 2 * 4


async def test_a_long_archived_session_decodes_only_its_active_messages(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    # Memory reads the active messages every turn: on a session whose oldest messages it
    # archived, a new process decodes those only, and finds the archived ones when asked.
    writer = ZepDBChatStore(open_client(), "jane")
    history = [m(f"q{i}") if i % 2 == 0 else m(f"a{i}", "assistant") for i in range(300)]
    await writer.add_messages("long", history)
    archived = await writer.archive_oldest_messages("long", 280)
    assert texts(archived) == texts(history[:280])
    client = open_client()
    store = ZepDBChatStore(client, "jane")
    assert texts(await store.get_messages("long")) == texts(history[280:])
    memo = history_cache(client)._entries["long"].decoded["llama_index.db_store"]
    assert len(memo) == 20  # the 280 archived ones were not decoded
    assert await store.count_messages("long", ARCHIVED) == 280
    assert len(memo) == 20  # counting decodes nothing
    assert texts(await store.get_messages("long", ARCHIVED, limit=2, offset=1)) == ["a1", "q2"]
    assert len(memo) == 22
    memory = Memory.from_defaults(session_id="long", chat_store=store, token_limit=100_000)
    assert texts(await memory.aget()) == texts(history[280:])
    await memory.aput(m("new"))
    assert texts(await store.get_messages("long")) == [*texts(history[280:]), "new"]


@pytest.mark.parametrize("kind", ["zep", "sqlalchemy"])
@pytest.mark.parametrize("insert", ["user", "system"])
async def test_memory_blocks_do_not_pile_up_in_stored_messages(
    client: ZepMemoryClient, kind: str, insert: str
) -> None:
    # Memory writes its memory blocks' content into the messages the store hands it (the
    # newest user message, or a system message): every read must hand out messages of its own,
    # as LlamaIndex's SQLAlchemyChatStore (the reference) does.
    store = ZepDBChatStore(client, "jane") if kind == "zep" else SQLAlchemyChatStore(table_name="t")
    memory = Memory.from_defaults(
        session_id="s",
        chat_store=store,
        memory_blocks=[StaticMemoryBlock(name="core", static_content="Jane likes tea")],
        insert_method=InsertMethod(insert),
    )
    mine = [m("be kind", "system"), m("hi")]
    await memory.aput_messages(mine)
    seen = [texts(await memory.aget()) for _ in range(3)]
    assert seen[0] == seen[1] == seen[2]
    assert sum(text.count("Jane likes tea") for text in seen[2]) == 1
    assert texts(mine) == ["be kind", "hi"]  # the caller's messages are left alone
    assert texts(await store.get_messages("s")) == ["be kind", "hi"]
