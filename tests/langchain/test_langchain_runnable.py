"""RunnableWithMessageHistory over Zep: multi-turn chains, per-user memory, call budget."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory
from lc_fakes import RWMH_DEPRECATION

from zep_memory_plugins import InvalidInputError, SessionOwnershipError, ZepMemoryClient
from zep_memory_plugins.langchain import (
    HISTORY_FACTORY_CONFIG,
    ZepChatMessageHistory,
    ZepHistoryFactory,
    with_zep_history,
)

pytestmark = pytest.mark.filterwarnings(RWMH_DEPRECATION)


def cfg(user_id: str, session_id: str) -> dict[str, Any]:
    return {"configurable": {"user_id": user_id, "session_id": session_id}}


def build_chain(
    client: ZepMemoryClient, replies: list[str], seen: list[list[BaseMessage]], **kwargs: Any
) -> RunnableWithMessageHistory:
    """prompt | (spy) | GenericFakeChatModel, wrapped with Zep memory."""
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You are helpful."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    model = GenericFakeChatModel(messages=iter([AIMessage(r) for r in replies]))

    def spy(value: Any) -> Any:
        seen.append(value.to_messages())
        return value

    return with_zep_history(
        prompt | RunnableLambda(spy) | model,
        client,
        input_messages_key="question",
        history_messages_key="history",
        **kwargs,
    )


def test_multi_turn_chain(client: ZepMemoryClient) -> None:
    seen: list[list[BaseMessage]] = []
    chain = build_chain(client, ["Hello Ann!", "You are Ann."], seen)
    first = chain.invoke({"question": "I'm Ann"}, cfg("ann", "chat-1"))
    assert first.content == "Hello Ann!"
    second = chain.invoke({"question": "Who am I?"}, cfg("ann", "chat-1"))
    assert second.content == "You are Ann."
    # the model saw the first turn on the second
    assert seen[1] == [
        SystemMessage("You are helpful."),
        HumanMessage("I'm Ann"),
        AIMessage("Hello Ann!", id=first.id),
        HumanMessage("Who am I?"),
    ]
    stored = ZepChatMessageHistory(session_id="chat-1", user_id="ann", client=client).messages
    assert [m.content for m in stored] == ["I'm Ann", "Hello Ann!", "Who am I?", "You are Ann."]
    assert stored[1] == first and stored[3] == second


async def test_multi_turn_chain_async(client: ZepMemoryClient) -> None:
    seen: list[list[BaseMessage]] = []
    chain = build_chain(client, ["Hello Ann!", "You are Ann."], seen)
    first = await chain.ainvoke({"question": "I'm Ann"}, cfg("ann", "chat-1"))
    second = await chain.ainvoke({"question": "Who am I?"}, cfg("ann", "chat-1"))
    assert seen[1][1:3] == [HumanMessage("I'm Ann"), first]
    stored = await ZepChatMessageHistory(
        session_id="chat-1", user_id="ann", client=client
    ).aget_messages()
    assert stored == [HumanMessage("I'm Ann"), first, HumanMessage("Who am I?"), second]


def test_users_and_sessions_are_separate(client: ZepMemoryClient) -> None:
    seen: list[list[BaseMessage]] = []
    chain = build_chain(client, ["a1", "b1", "a2", "a3"], seen)
    chain.invoke({"question": "ann says"}, cfg("ann", "ann-1"))
    chain.invoke({"question": "bob says"}, cfg("bob", "bob-1"))
    chain.invoke({"question": "ann again"}, cfg("ann", "ann-1"))
    chain.invoke({"question": "ann new chat"}, cfg("ann", "ann-2"))
    contents = [[m.content for m in s] for s in seen]
    assert contents[1] == ["You are helpful.", "bob says"]  # bob sees nothing of ann
    assert contents[2] == ["You are helpful.", "ann says", "a1", "ann again"]
    assert contents[3] == ["You are helpful.", "ann new chat"]  # a new session starts empty
    with pytest.raises(SessionOwnershipError):
        chain.invoke({"question": "give me ann's chat"}, cfg("bob", "ann-1"))
    assert len(seen) == 4, "the model never ran for the intruder"
    assert [s.session_id for s in client.user.get_sessions("ann")] == ["ann-1", "ann-2"]
    assert [s.session_id for s in client.user.get_sessions("bob")] == ["bob-1"]


def test_one_read_and_one_write_per_turn(client: ZepMemoryClient) -> None:
    seen: list[list[BaseMessage]] = []
    chain = build_chain(client, [f"r{i}" for i in range(5)], seen)
    chain.invoke({"question": "q0"}, cfg("ann", "s1"))  # first turn creates user and session
    for i in range(1, 5):
        client.stats.reset()
        chain.invoke({"question": f"q{i}"}, cfg("ann", "s1"))
        assert client.stats.reads == 1 and client.stats.writes == 1
        assert client.stats.calls == {"get_messages": 1, "add_messages": 1}


def test_first_turn_cost(client: ZepMemoryClient) -> None:
    chain = build_chain(client, ["r0", "r1"], [])
    chain.invoke({"question": "q0"}, cfg("ann", "s1"))
    # ownership check of an unknown session; the session is refused for want of a user, so
    # the user is created (only then: a rejected write creates nothing), then the write
    assert client.stats.calls == {
        "get_session": 1,
        "add_session": 2,
        "add_user": 1,
        "add_messages": 1,
    }
    client.stats.reset()
    chain.invoke({"question": "q1"}, cfg("ann", "s2"))  # a known user's new session
    assert client.stats.calls == {"get_session": 1, "add_session": 1, "add_messages": 1}


def test_messages_only_input_reads_once(client: ZepMemoryClient) -> None:
    """Without history_messages_key the runnable asks for the history twice per turn."""
    replies = iter([AIMessage(f"r{i}") for i in range(4)])
    chain = with_zep_history(GenericFakeChatModel(messages=replies), client)
    chain.invoke([HumanMessage("q0")], cfg("ann", "s1"))
    sent: list[BaseMessage] = [HumanMessage("q0")]
    for i in range(1, 4):
        client.stats.reset()
        out = chain.invoke([HumanMessage(f"q{i}")], cfg("ann", "s1"))
        assert client.stats.calls == {"get_messages": 1, "add_messages": 1}
        sent.append(HumanMessage(f"q{i}"))
        sent.append(out)
    stored = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client).messages
    assert [m.content for m in stored] == ["q0", "r0", "q1", "r1", "q2", "r2", "q3", "r3"]


async def test_messages_only_input_reads_once_async(client: ZepMemoryClient) -> None:
    replies = iter([AIMessage(f"r{i}") for i in range(3)])
    chain = with_zep_history(GenericFakeChatModel(messages=replies), client)
    await chain.ainvoke([HumanMessage("q0")], cfg("ann", "s1"))
    for i in range(1, 3):
        client.stats.reset()
        await chain.ainvoke([HumanMessage(f"q{i}")], cfg("ann", "s1"))
        assert client.stats.calls == {"get_messages": 1, "add_messages": 1}
    stored = await ZepChatMessageHistory(
        session_id="s1", user_id="ann", client=client
    ).aget_messages()
    assert [m.content for m in stored] == ["q0", "r0", "q1", "r1", "q2", "r2"]


def test_thirty_turns(client: ZepMemoryClient) -> None:
    seen: list[list[BaseMessage]] = []
    chain = build_chain(client, [f"answer {i}" for i in range(30)], seen)
    sent: list[BaseMessage] = []
    for i in range(30):
        question = HumanMessage(f"question {i}")
        answer = chain.invoke({"question": question.content}, cfg("ann", "long"))
        sent += [question, answer]
    stored = ZepChatMessageHistory(session_id="long", user_id="ann", client=client).messages
    assert len(stored) == 60
    assert stored == sent
    assert len(seen[-1]) == 1 + 58 + 1  # system + 29 earlier turns + the new question


def test_thirty_turns_reloaded_by_a_new_client(
    open_client: Callable[[], ZepMemoryClient],
) -> None:
    chain = build_chain(open_client(), [f"answer {i}" for i in range(30)], [])
    sent: list[BaseMessage] = []
    for i in range(30):
        answer = chain.invoke({"question": f"question {i}"}, cfg("ann", "long"))
        sent += [HumanMessage(f"question {i}"), answer]
    stored = ZepChatMessageHistory(session_id="long", user_id="ann", client=open_client()).messages
    assert stored == sent


def test_window_limits_the_prompt(client: ZepMemoryClient) -> None:
    seen: list[list[BaseMessage]] = []
    chain = build_chain(client, [f"r{i}" for i in range(4)], seen, window=2)
    for i in range(4):
        chain.invoke({"question": f"q{i}"}, cfg("ann", "s1"))
    assert [m.content for m in seen[-1]] == ["You are helpful.", "q2", "r2", "q3"]
    full = ZepChatMessageHistory(session_id="s1", user_id="ann", client=client).messages
    assert len(full) == 8


def test_factory_by_hand(client: ZepMemoryClient) -> None:
    factory = ZepHistoryFactory(client, session_metadata={"app": "demo"})
    chain = RunnableWithMessageHistory(
        GenericFakeChatModel(messages=iter([AIMessage("ok")])),
        factory,
        history_factory_config=HISTORY_FACTORY_CONFIG,
    )
    out = chain.invoke([HumanMessage("hi")], cfg("ann", "s1"))
    assert factory("ann", "s1").messages == [HumanMessage("hi"), out]
    assert client.memory.get_session("s1").metadata == {"app": "demo"}
    assert factory.config == HISTORY_FACTORY_CONFIG
    with pytest.raises(InvalidInputError):
        with_zep_history(GenericFakeChatModel(messages=iter([])), factory, window=3)


def test_missing_or_bad_ids_are_refused(client: ZepMemoryClient) -> None:
    chain = build_chain(client, ["never"], [])
    with pytest.raises(ValueError, match="user_id"):  # LangChain's own check
        chain.invoke({"question": "hi"}, {"configurable": {"session_id": "s1"}})
    with pytest.raises(InvalidInputError) as info:
        chain.invoke({"question": "hi"}, cfg("", "s1"))
    assert info.value.field == "user_id"
    assert client.stats.writes == 0


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_a_failed_history_write_under_the_runnable_is_logged_by_langchain_not_raised(
    api: str, zep_servers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """LangChain runs RunnableWithMessageHistory's write as an end-of-run listener and only
    logs a listener's error: the README says so, and this pins it (with the Zep test servers'
    fault injection: the embedded store cannot be made to fail a write)."""
    server = zep_servers.fresh(api)
    client = ZepMemoryClient(base_url=server.url, api_key=server.api_key, max_retries=0)
    seen: list[list[BaseMessage]] = []
    chain = build_chain(client, ["one", "two"], seen)
    chain.invoke({"question": "first"}, cfg("ann", "s"))
    server.faults.add("POST", "/api/*/sessions/*/memory", status=500, times=None)
    with caplog.at_level("WARNING"):
        reply = chain.invoke({"question": "second"}, cfg("ann", "s"))
    assert reply.content == "two"  # the chain itself succeeded...
    assert "ServerError" in caplog.text  # ...and the lost write was only logged, by LangChain
    server.faults.clear()
    stored = client.memory.get_messages("s")
    assert [m.content for m in stored] == ["first", "one"]
    client.close()
