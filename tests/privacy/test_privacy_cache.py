"""Several clients on one store: no adapter serves, keeps or revives what another one deleted.

Each test is a sequence a hostile reviewer would try (issue 11, items 1-3): client 1 reads a
session, client 2 clears it or deletes its user (or writes to it), then client 1 goes on. The
clients share one store: the same embedded file, or the same Zep test server over HTTP
(``open_client``), so every test runs on every backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import Memory

from zep_memory_plugins import NotFoundError, SessionOwnershipError, ZepMemoryClient
from zep_memory_plugins._history_cache import TAIL_SIZE
from zep_memory_plugins.langchain import REVIVED_SESSION_KEY, ZepChatMessageHistory
from zep_memory_plugins.llama_index import ZepChatStore, ZepDBChatStore, ZepMemory

Opener = Callable[[], ZepMemoryClient]


def stored(client: ZepMemoryClient, session_id: str = "s") -> list[str]:
    return [m.content for m in client.memory.get_messages(session_id)]


def clear(client: ZepMemoryClient) -> None:
    client.memory.delete_memory("s")


def delete_user(client: ZepMemoryClient) -> None:
    client.user.delete("ann")


GONE = {"clear": clear, "user delete": delete_user}


# -- adapters, one per framework, driven the same way ----------------------------------------


class Adapter:
    """Write and read one session of user ``ann`` through a framework adapter."""

    def __init__(self, client: ZepMemoryClient) -> None:
        self.client = client

    def write(self, *texts: str) -> None:
        raise NotImplementedError

    def read(self) -> list[str]:
        raise NotImplementedError


class LangChainHistory(Adapter):
    def __init__(self, client: ZepMemoryClient) -> None:
        super().__init__(client)
        self.history = ZepChatMessageHistory(session_id="s", user_id="ann", client=client)

    def write(self, *texts: str) -> None:
        self.history.add_messages([HumanMessage(t) for t in texts])

    def read(self) -> list[str]:
        self.history.refresh()  # the object's own last read is not what is under test
        return [str(m.content) for m in self.history.messages]


class LangChainHistoryAsync(LangChainHistory):
    def write(self, *texts: str) -> None:
        asyncio.run(self.history.aadd_messages([HumanMessage(t) for t in texts]))

    def read(self) -> list[str]:
        self.history.refresh()
        return [str(m.content) for m in asyncio.run(self.history.aget_messages())]


class LlamaMemory(Adapter):
    def __init__(self, client: ZepMemoryClient) -> None:
        super().__init__(client)
        self.memory = ZepMemory(client, "ann", "s", defer_user_messages=False)

    def write(self, *texts: str) -> None:
        self.memory.put_messages([ChatMessage(role="user", content=t) for t in texts])

    def read(self) -> list[str]:
        return [str(m.content) for m in self.memory.get_all()]


class LlamaChatStore(Adapter):
    def __init__(self, client: ZepMemoryClient) -> None:
        super().__init__(client)
        self.store = ZepChatStore(client, "ann")

    def write(self, *texts: str) -> None:
        for t in texts:
            self.store.add_message("s", ChatMessage(role="user", content=t))

    def read(self) -> list[str]:
        return [str(m.content) for m in self.store.get_messages("s")]


ADAPTERS = {
    "langchain": LangChainHistory,
    "langchain-async": LangChainHistoryAsync,
    "llama-memory": LlamaMemory,
    "llama-chat-store": LlamaChatStore,
}


@pytest.fixture(params=list(ADAPTERS))
def adapter_cls(request: pytest.FixtureRequest) -> type[Adapter]:
    return ADAPTERS[request.param]


def many(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


# -- item 1: the cache never serves messages the store no longer holds ------------------------


@pytest.mark.parametrize("how", list(GONE))
@pytest.mark.parametrize("length", [2, TAIL_SIZE + 10])
def test_gone_messages_are_never_served_after_an_own_write(
    open_client: Opener, adapter_cls: type[Adapter], how: str, length: int
) -> None:
    mine, theirs = open_client(), open_client()
    adapter = adapter_cls(mine)
    adapter.write(*many("old", length))
    assert adapter.read() == many("old", length)  # held by client 1's cache now
    GONE[how](theirs)
    adapter.write("new")  # no read in between: the adapter cannot know yet
    assert stored(theirs) == ["new"]
    assert adapter.read() == ["new"]
    if how == "clear":  # the write revived the session with its owner
        adapter.write("newer")
        assert adapter.read() == ["new", "newer"] == stored(theirs)
        assert theirs.memory.get_session("s").user_id == "ann"
    else:
        # The user was deleted between client 1's read and its write: that write recreated the
        # session without an owner (Zep creates unknown sessions on write). The read saw the
        # delete, so the guard checks the owner again and refuses the ownerless session.
        with pytest.raises(SessionOwnershipError, match="no user"):
            adapter.write("newer")
        assert stored(theirs) == ["new"]


@pytest.mark.parametrize("how", list(GONE))
def test_gone_and_refilled_beyond_a_tail_is_read_as_stored(
    open_client: Opener, adapter_cls: type[Adapter], how: str
) -> None:
    mine, theirs = open_client(), open_client()
    adapter = adapter_cls(mine)
    adapter.write(*many("old", TAIL_SIZE + 5))
    adapter.read()
    GONE[how](theirs)
    refill = many("theirs", TAIL_SIZE + 3)
    adapter_cls(theirs).write(*refill)  # the same user, from another process
    adapter.write("mine")
    assert adapter.read() == [*refill, "mine"] == stored(theirs)


def test_another_clients_writes_are_seen_and_turns_stay_cheap(open_client: Opener) -> None:
    mine, theirs = open_client(), open_client()
    history = LangChainHistory(mine)
    history.write(*many("m", TAIL_SIZE + 30))
    history.read()
    LangChainHistory(theirs).write("from elsewhere")
    for turn in range(3):  # a steady conversation: one tail read and one write per turn
        mine.stats.reset()
        assert history.read()[-1] == ("from elsewhere" if turn == 0 else f"t{turn - 1}")
        history.write(f"t{turn}")
        assert mine.stats.calls == {"get_messages": 1, "add_messages": 1}
        if mine.stats.http_requests:
            assert mine.stats.http_requests == 2
    assert history.read() == stored(theirs)


# -- item 3: a user delete reaches every session, whoever deleted and whoever wrote ----------


def assert_user_gone(client: ZepMemoryClient) -> None:
    with pytest.raises(NotFoundError):
        client.user.get("ann")
    with pytest.raises(NotFoundError):
        client.memory.get_session("s")
    assert stored(client) == []


def test_writes_after_a_user_delete_on_the_same_client_belong_to_the_user(
    open_client: Opener, adapter_cls: type[Adapter]
) -> None:
    client = open_client()
    adapter = adapter_cls(client)
    adapter.write("before")
    assert adapter.read() == ["before"]
    client.user.delete("ann")
    adapter.write("after")  # recreates the user and the session, owned by the user
    assert client.memory.get_session("s").user_id == "ann"
    assert adapter.read() == ["after"]
    client.user.delete("ann")
    assert_user_gone(open_client())


async def test_async_user_delete_on_the_same_client(open_client: Opener) -> None:
    client = open_client()
    history = ZepChatMessageHistory(session_id="s", user_id="ann", client=client)
    await history.aadd_messages([HumanMessage("before")])
    await client.user.adelete("ann")
    await history.aadd_messages([AIMessage("after")])
    assert (await client.memory.aget_session("s")).user_id == "ann"
    await client.user.adelete("ann")
    assert_user_gone(open_client())


def test_a_turn_after_another_clients_user_delete_recreates_the_session_with_its_owner(
    open_client: Opener, adapter_cls: type[Adapter]
) -> None:
    mine, theirs = open_client(), open_client()
    adapter = adapter_cls(mine)

    def turn(text: str) -> list[str]:
        seen = adapter.read()
        adapter.write(text)
        return seen

    turn("one")
    assert turn("two") == ["one"]
    theirs.user.delete("ann")
    assert turn("three") == []  # the read sees the delete; the write recreates with the owner
    assert theirs.memory.get_session("s").user_id == "ann"
    assert turn("four") == ["three"]
    theirs.user.delete("ann")  # so a later delete of the user reaches it
    assert_user_gone(theirs)


def test_a_clear_through_the_client_keeps_the_owner(open_client: Opener) -> None:
    client = open_client()
    history = LangChainHistory(client)
    history.write("a")
    client.memory.delete_memory("s")  # not through the adapter
    assert history.read() == []
    history.write("b")
    assert history.read() == ["b"]
    assert open_client().memory.get_session("s").user_id == "ann"


# -- item 2: a refused write leaves the other user's session exactly as it was ---------------


def session_state(client: ZepMemoryClient) -> dict[str, Any]:
    return {
        "sessions": [(s.session_id, s.user_id) for s in client.memory.list_sessions()],
        "users": [u.user_id for u in client.user.list()],
        "messages": stored(client),
    }


INTRUDERS: dict[str, Callable[[ZepMemoryClient], None]] = {
    "langchain": lambda c: ZepChatMessageHistory(
        session_id="s", user_id="carl", client=c, session_metadata={"planted": "by carl"}
    ).add_messages([HumanMessage("let me in")]),
    "langchain-async": lambda c: asyncio.run(
        ZepChatMessageHistory(
            session_id="s", user_id="carl", client=c, session_metadata={"planted": "by carl"}
        ).aadd_messages([HumanMessage("let me in")])
    ),
    "llama-memory": lambda c: ZepMemory(
        c, "carl", "s", session_metadata={"planted": "by carl"}, defer_user_messages=False
    ).put(ChatMessage(role="user", content="let me in")),
    "llama-chat-store": lambda c: ZepChatStore(
        c, "carl", session_metadata={"planted": "by carl"}
    ).add_message("s", ChatMessage(role="user", content="let me in")),
}


@pytest.mark.parametrize("intruder", list(INTRUDERS))
def test_a_refused_write_to_a_cleared_session_changes_nothing(
    open_client: Opener, intruder: str
) -> None:
    owner = open_client()
    ZepChatMessageHistory(
        session_id="s", user_id="ann", client=owner, session_metadata={"topic": "private"}
    ).add_messages([HumanMessage("ann's secret")])
    owner.memory.delete_memory("s")
    before = session_state(owner)

    with pytest.raises(SessionOwnershipError):
        INTRUDERS[intruder](open_client())

    assert session_state(owner) == before
    with pytest.raises(NotFoundError):
        owner.memory.get_session("s")  # still deleted
    # The owner writes again (a fresh process): the session is theirs, with their metadata only.
    ZepChatMessageHistory(session_id="s", user_id="ann", client=open_client()).add_messages(
        [HumanMessage("back")]
    )
    session = owner.memory.get_session("s")
    assert session.user_id == "ann"
    assert session.metadata is not None and session.metadata["topic"] == "private"
    # exactly the owner's metadata, plus the stamp of the owner's own revival
    assert set(session.metadata) == {"topic", REVIVED_SESSION_KEY}
    assert stored(owner) == ["back"]


async def test_llama_index_memory_on_the_db_store_recreates_the_session_with_its_owner(
    open_client: Opener,
) -> None:
    mine, theirs = open_client(), open_client()
    memory = Memory.from_defaults(session_id="s", chat_store=ZepDBChatStore(mine, "ann"))

    async def turn(text: str) -> list[str]:
        seen = [str(m.content) for m in await memory.aget()]
        await memory.aput(ChatMessage(role="user", content=text))
        return seen

    await turn("one")
    assert await turn("two") == ["one"]
    await theirs.user.adelete("ann")
    assert await turn("three") == []
    assert (await theirs.memory.aget_session("s")).user_id == "ann"
    await theirs.user.adelete("ann")
    assert_user_gone(theirs)
