"""ZepChatStore: every BaseChatStore method (sync and async twins), ChatMemoryBuffer, owners."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import ChatMessage, MockLLM
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.storage.chat_store import BaseChatStore, SimpleChatStore

from zep_memory_plugins import InvalidInputError, SessionOwnershipError, ZepMemoryClient
from zep_memory_plugins._context import Summary, summary_message
from zep_memory_plugins.llama_index import ZepChatStore

ASYNC_NAMES = {
    "set_messages": "aset_messages",
    "get_messages": "aget_messages",
    "add_message": "async_add_message",
    "delete_messages": "adelete_messages",
    "delete_message": "adelete_message",
    "delete_last_message": "adelete_last_message",
    "get_keys": "aget_keys",
}


class Store:
    """A chat store called through its sync methods or their native async twins."""

    def __init__(self, store: BaseChatStore, mode: str) -> None:
        self.store = store
        self.mode = mode

    def __getattr__(self, name: str) -> Callable[..., Any]:
        async def call(*args: Any) -> Any:
            if self.mode == "sync":
                return getattr(self.store, name)(*args)
            return await getattr(self.store, ASYNC_NAMES[name])(*args)

        return call


def msgs(*texts: str) -> list[ChatMessage]:
    return [
        ChatMessage(role="user" if i % 2 == 0 else "assistant", content=t)
        for i, t in enumerate(texts)
    ]


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("kind", ["zep", "simple"])
async def test_every_method_means_what_simple_chat_store_means(
    client: ZepMemoryClient, mode: str, kind: str
) -> None:
    # The same script runs on LlamaIndex's SimpleChatStore, the reference of the meanings.
    s = Store(ZepChatStore(client, "jane") if kind == "zep" else SimpleChatStore(), mode)
    assert await s.get_messages("a") == []
    assert await s.get_keys() == []
    assert await s.delete_messages("a") is None
    assert await s.delete_message("a", 0) is None
    assert await s.delete_last_message("a") is None

    await s.add_message("a", ChatMessage(role="user", content="1"))
    await s.add_message("a", ChatMessage(role="assistant", content="2"))
    assert await s.get_messages("a") == msgs("1", "2")
    await s.set_messages("a", msgs("x", "y", "z", "w"))
    assert await s.get_messages("a") == msgs("x", "y", "z", "w")
    await s.set_messages("b", msgs("b1"))
    assert sorted(await s.get_keys()) == ["a", "b"]

    assert await s.delete_message("a", 1) == msgs("x", "y")[1]
    assert await s.get_messages("a") == [msgs("x")[0], *msgs("-", "-", "z", "w")[2:]]
    assert await s.delete_message("a", 7) is None
    assert await s.delete_last_message("a") == msgs("-", "-", "-", "w")[3]
    assert await s.get_messages("a") == [msgs("x")[0], msgs("-", "-", "z")[2]]
    await s.add_message("a", ChatMessage(role="assistant", content="after"))
    assert [m.content for m in await s.get_messages("a")] == ["x", "z", "after"]

    assert await s.delete_messages("b") == msgs("b1")
    assert await s.get_messages("b") == []
    assert await s.get_keys() == ["a"]

    await s.set_messages("a", [])  # an emptied key is still a key
    assert await s.get_messages("a") == []
    assert await s.get_keys() == ["a"]
    assert await s.delete_messages("a") == []
    assert await s.get_keys() == []


async def test_sessions_belong_to_the_user(client: ZepMemoryClient, mode: str) -> None:
    s = Store(ZepChatStore(client, "jane", session_metadata={"app": "demo"}), mode)
    await s.add_message("k", ChatMessage(content="hi"))
    session = client.memory.get_session("k")
    assert (session.user_id, session.metadata) == ("jane", {"app": "demo"})
    assert client.user.get("jane").user_id == "jane"
    # deleting and rewriting keep the owner
    await s.delete_last_message("k")
    await s.add_message("k", ChatMessage(content="again"))
    assert client.memory.get_session("k").user_id == "jane"
    bob = Store(ZepChatStore(client, "bob"), mode)
    for call in (
        bob.get_messages("k"),
        bob.add_message("k", ChatMessage(content="x")),
        bob.set_messages("k", []),
        bob.delete_messages("k"),
        bob.delete_message("k", 0),
        bob.delete_last_message("k"),
    ):
        with pytest.raises(SessionOwnershipError):
            await call
    assert await bob.get_keys() == []
    assert [m.content for m in client.memory.get_messages("k")] == ["again"]


def test_fresh_client_checks_ownership_too(open_client: Callable[[], ZepMemoryClient]) -> None:
    ZepChatStore(open_client(), "jane").add_message("k", ChatMessage(content="mine"))
    other = open_client()
    with pytest.raises(SessionOwnershipError):
        ZepChatStore(other, "bob").get_messages("k")
    assert [m.content for m in ZepChatStore(other, "jane").get_messages("k")] == ["mine"]
    assert ZepChatStore(other, "jane").get_keys() == ["k"]


def test_under_chat_memory_buffer_and_a_chat_engine(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    client = open_client()
    store = ZepChatStore(client, "jane")
    memory = ChatMemoryBuffer.from_defaults(
        chat_store=store, chat_store_key="conv", token_limit=10_000
    )
    chat = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=2), memory=memory)
    chat.chat("hello")
    for turn in range(3):
        client.stats.reset()
        chat.chat(f"turn {turn}")
        # ChatMemoryBuffer writes each message on its own: one read, two writes per turn
        assert client.stats.calls == {"get_messages": 1, "add_messages": 2}
    again = ChatMemoryBuffer.from_defaults(
        chat_store=ZepChatStore(open_client(), "jane"), chat_store_key="conv"
    )
    assert [m.content for m in again.get_all()] == [
        "hello",
        "text text",
        "turn 0",
        "text text",
        "turn 1",
        "text text",
        "turn 2",
        "text text",
    ]
    assert again.get_all() == memory.get_all()


async def test_rolling_summaries_are_not_messages(client: ZepMemoryClient, mode: str) -> None:
    # ZepMemory keeps its rolling summaries in the session: wherever they sit (an older one
    # left behind, a newer one), the store hands out every other message, in order.
    s = Store(ZepChatStore(client, "jane"), mode)
    await s.add_message("a", ChatMessage(role="user", content="1"))
    summaries = [summary_message(Summary(f"summary {i}", "")) for i in range(2)]
    client.memory.add_messages("a", [summaries[0]])
    await s.add_message("a", ChatMessage(role="assistant", content="2"))
    client.memory.add_messages("a", [summaries[1]])
    await s.add_message("a", ChatMessage(role="user", content="3"))
    for _ in range(2):  # a first read, then one through the client's history cache
        assert await s.get_messages("a") == msgs("1", "2", "3")
    assert len(client.memory.get_messages("a")) == 5


def test_bad_input(client: ZepMemoryClient) -> None:
    store = ZepChatStore(client, "jane")
    with pytest.raises(InvalidInputError):
        ZepChatStore(client, "")
    with pytest.raises(InvalidInputError):
        store.get_messages("")
    with pytest.raises(InvalidInputError):
        store.add_message("k", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.set_messages("k", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        store.delete_message("k", "0")  # type: ignore[arg-type]
    assert client.stats.writes == 0
    assert "jane" in repr(store)
